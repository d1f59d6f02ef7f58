//! The check-in chime and the refusal sound, played on a thread that owns the audio device. A
//! PC without sound (or a CI machine) simply stays silent.
//!
//! What sounds is decided by what happened, never by timing alone: every live arrival is
//! heard (two members tapping at the same instant share one chime), a replay after a blip is
//! silent (the board's line says how many came in meanwhile), and a refused pass has its own,
//! lower sound so staff look up before the member walks on.

use std::io::Cursor;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHIME: &[u8] = include_bytes!("../../assets/sounds/checkin.wav");
const REFUSED: &[u8] = include_bytes!("../../assets/sounds/refused.wav");

/// Live arrivals closer together than this share one chime: the chime lasts about this long,
/// so a second one would only blur into it.
const MERGE: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sound {
    Chime,
    Refused,
}

pub struct Chime {
    play: Option<mpsc::Sender<Sound>>,
    last_chime: Option<Instant>,
    played: u64,
    refusals: u64,
}

impl Chime {
    pub fn start() -> Chime {
        let (play, requests) = mpsc::channel::<Sound>();
        let started = std::thread::Builder::new()
            .name("gymgate-sound".into())
            .spawn(move || {
                let mut stream = match rodio::OutputStreamBuilder::open_default_stream() {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "no sound device; check-ins will be silent");
                        return;
                    }
                };
                stream.log_on_drop(false);
                while let Ok(sound) = requests.recv() {
                    let bytes = match sound {
                        Sound::Chime => CHIME,
                        Sound::Refused => REFUSED,
                    };
                    match rodio::play(stream.mixer(), Cursor::new(bytes)) {
                        Ok(sink) => sink.detach(),
                        Err(error) => tracing::warn!(%error, "cannot play a sound"),
                    }
                }
            });
        Chime {
            play: started.ok().map(|_| play),
            last_chime: None,
            played: 0,
            refusals: 0,
        }
    }

    /// A chime that never plays (tests, screenshots); it still counts what it would play.
    pub fn silent() -> Chime {
        Chime {
            play: None,
            last_chime: None,
            played: 0,
            refusals: 0,
        }
    }

    /// Staff checked someone in here: always heard at once.
    pub fn play(&mut self) {
        self.chime(Instant::now());
    }

    /// A member came in just now (their tap, another desk's check-in): heard, unless a chime
    /// is still sounding for one who came in at the same instant.
    pub fn arrived(&mut self, now: Instant) {
        let merged = self
            .last_chime
            .is_some_and(|last| now.saturating_duration_since(last) < MERGE);
        if !merged {
            self.chime(now);
        }
    }

    /// A pass or a check-in was refused: its own sound, every time.
    pub fn refused(&mut self) {
        self.refusals += 1;
        self.send(Sound::Refused);
    }

    /// How many chimes were played (or, silent, would have been).
    pub fn played(&self) -> u64 {
        self.played
    }

    /// How many refusal sounds were played (or would have been).
    pub fn refusals(&self) -> u64 {
        self.refusals
    }

    fn chime(&mut self, now: Instant) {
        self.played += 1;
        self.last_chime = Some(now);
        self.send(Sound::Chime);
    }

    fn send(&self, sound: Sound) {
        if let Some(play) = &self.play {
            let _ = play.send(sound);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 23, finding 10. A second member 1 s after the first is heard (before: silenced
    /// as a "burst" for 1.5 s); two at the same instant share one chime.
    #[test]
    fn finding_10_every_live_arrival_is_heard_and_simultaneous_ones_share_a_chime() {
        let mut chime = Chime::silent();
        let start = Instant::now();
        chime.arrived(start);
        chime.arrived(start + Duration::from_millis(1000));
        assert_eq!(chime.played(), 2, "a member one second after another");
        chime.arrived(start + Duration::from_millis(5000));
        chime.arrived(start + Duration::from_millis(5100));
        assert_eq!(chime.played(), 3, "two at the same instant: one chime");
        for i in 0..10 {
            chime.arrived(start + Duration::from_secs(10) + Duration::from_millis(i * 600));
        }
        assert_eq!(chime.played(), 13, "a steady stream: each one heard");
        chime.play();
        chime.refused();
        assert_eq!((chime.played(), chime.refusals()), (14, 1));
    }
}
