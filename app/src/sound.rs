//! The check-in chime, played on a thread that owns the audio device. A PC without sound (or
//! a CI machine) simply stays silent.

use std::io::Cursor;
use std::sync::mpsc;

const CHIME: &[u8] = include_bytes!("../../assets/sounds/checkin.wav");

pub struct Chime {
    play: Option<mpsc::Sender<()>>,
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
        }
    }

    /// A chime that never plays (tests, screenshots).
    pub fn silent() -> Chime {
        Chime { play: None }
    }

    pub fn play(&self) {
        if let Some(play) = &self.play {
            let _ = play.send(());
        }
    }
}
