//! The check-in chime, played on a thread that owns the audio device. A PC without sound (or
//! a CI machine) simply stays silent.

use std::io::Cursor;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHIME: &[u8] = include_bytes!("../../assets/sounds/checkin.wav");

/// Check-ins arriving closer together than this are one burst (the replay after a blip: a
/// hundred events within a second); the burst gets one chime, not a hundred.
const BURST_GAP: Duration = Duration::from_millis(1500);
/// A burst that goes on longer than this chimes again, so a steady stream is still heard.
const BURST_REMINDER: Duration = Duration::from_secs(5);

pub struct Chime {
    play: Option<mpsc::Sender<()>>,
    last_arrival: Option<Instant>,
    last_played: Option<Instant>,
    played: u64,
}

impl Chime {
    pub fn start() -> Chime {
        let (play, requests) = mpsc::channel::<()>();
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
                while requests.recv().is_ok() {
                    match rodio::play(stream.mixer(), Cursor::new(CHIME)) {
                        Ok(sink) => sink.detach(),
                        Err(error) => tracing::warn!(%error, "cannot play the chime"),
                    }
                }
            });
        Chime {
            play: started.ok().map(|_| play),
            last_arrival: None,
            last_played: None,
            played: 0,
        }
    }

    /// A chime that never plays (tests, screenshots); it still counts what it would play.
    pub fn silent() -> Chime {
        Chime {
            play: None,
            last_arrival: None,
            last_played: None,
            played: 0,
        }
    }

    /// Staff checked someone in here: always heard at once.
    pub fn play(&mut self) {
        self.play_now(Instant::now());
    }

    /// A check-in arrived from elsewhere (the member's tap, another desk, a replay after a
    /// blip): chimes unless it belongs to a burst already chimed for.
    pub fn arrived(&mut self, now: Instant) {
        let in_burst = self
            .last_arrival
            .is_some_and(|last| now.saturating_duration_since(last) < BURST_GAP);
        let reminded = self
            .last_played
            .is_some_and(|last| now.saturating_duration_since(last) < BURST_REMINDER);
        self.last_arrival = Some(now);
        if !in_burst || !reminded {
            self.play_now(now);
        }
    }

    /// How many chimes were played (or, silent, would have been).
    pub fn played(&self) -> u64 {
        self.played
    }

    fn play_now(&mut self, now: Instant) {
        self.played += 1;
        self.last_played = Some(now);
        if let Some(play) = &self.play {
            let _ = play.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_burst_chimes_once_and_separate_arrivals_each_chime() {
        let mut chime = Chime::silent();
        let start = Instant::now();
        for i in 0..100 {
            chime.arrived(start + Duration::from_millis(i * 5));
        }
        assert_eq!(
            chime.played(),
            1,
            "100 replayed check-ins within half a second"
        );
        chime.arrived(start + Duration::from_secs(10));
        chime.arrived(start + Duration::from_secs(20));
        assert_eq!(
            chime.played(),
            3,
            "members arriving seconds apart are each heard"
        );
        // A stream that never pauses for 1.5 s still chimes every 5 s.
        let mut at = start + Duration::from_secs(30);
        for _ in 0..60 {
            at += Duration::from_millis(200);
            chime.arrived(at);
        }
        assert_eq!(
            chime.played(),
            3 + 3,
            "12 s of steady arrivals: a chime every 5 s"
        );
        chime.play();
        assert_eq!(chime.played(), 7, "staff's own check-in always chimes");
    }
}
