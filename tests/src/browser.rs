//! A real headless Chromium (Debian's `chromium` + `chromedriver`) driven over WebDriver.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The screen a test browser has.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// A touch device's viewport (phone, tablet), CSS pixels.
    Touch(u32, u32),
    /// A desktop window.
    Window(u32, u32),
}

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

/// chromedriver leads its own process group, and Chromium with its helpers runs in it: killing
/// the group on drop ends them all, also when a test fails before `close()`. Killing only
/// chromedriver left Chromium running, and leftovers slowed the timing-sensitive tests after.
impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self
            .driver
            .id()
            .and_then(|id| rustix::process::Pid::from_raw(id as i32))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

fn is_stale(error: &fantoccini::error::CmdError) -> bool {
    error.to_string().contains("stale element")
}

impl Browser {
    /// Starts a phone-sized browser. Outside CI, a machine without Chromium skips the test
    /// (`None`) with a loud message; in CI (`CI` set) a missing browser is a failure.
    pub async fn start() -> anyhow::Result<Option<Browser>> {
        Self::start_sized(true).await
    }

    /// An operator's desktop browser (1366 × 900), for the console.
    pub async fn start_desktop() -> anyhow::Result<Option<Browser>> {
        Self::start_sized(false).await
    }

    async fn start_sized(phone: bool) -> anyhow::Result<Option<Browser>> {
        if phone {
            Self::start_as(Screen::Touch(360, 740), &[]).await
        } else {
            Self::start_as(Screen::Window(1366, 900), &[]).await
        }
    }

    /// A browser of that screen with more Chromium switches (e.g. a fake camera).
    /// A browser whose camera shows `payload` as a QR code (Chromium's fake camera playing a
    /// video of it): what a desk's or a phone's camera scan reads. The video file lives as long
    /// as the returned handle.
    pub async fn start_with_camera_showing(
        screen: Screen,
        payload: &str,
    ) -> anyhow::Result<Option<(Browser, tempfile::NamedTempFile)>> {
        let video = tempfile::Builder::new().suffix(".y4m").tempfile()?;
        std::fs::write(video.path(), y4m_of_qr(payload)?)?;
        let flags = [
            "--use-fake-device-for-media-stream".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
            format!(
                "--use-file-for-fake-video-capture={}",
                video.path().display()
            ),
        ];
        Ok(Browser::start_as(screen, &flags)
            .await?
            .map(|browser| (browser, video)))
    }

    pub async fn start_as(screen: Screen, extra: &[String]) -> anyhow::Result<Option<Browser>> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists()
        {
            if std::env::var_os("CI").is_some() {
                bail!(
                    "{CHROMIUM} or {CHROMEDRIVER} is missing in CI: .ci/run must install chromium and chromium-driver"
                );
            }
            eprintln!(
                "\n!!! SKIPPING BROWSER TEST: {CHROMIUM} / {CHROMEDRIVER} not installed.\n\
                 !!! apt-get install chromium chromium-driver (CI installs them and never skips)\n"
            );
            return Ok(None);
        }
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .context("cannot start chromedriver")?;
        let profile = tempfile::tempdir()?;
        let window = match screen {
            Screen::Touch(..) => "--window-size=500,900".to_owned(),
            Screen::Window(w, h) => format!("--window-size={w},{h}"),
        };
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            window,
            "--lang=ko-KR".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra.iter().cloned());
        let mut options = serde_json::json!({ "binary": CHROMIUM, "args": args });
        if let Screen::Touch(width, height) = screen {
            // A phone's or tablet's viewport (headless windows cannot be narrower than 500 px).
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true }
            });
        }
        let capabilities = serde_json::json!({ "goog:chromeOptions": options });
        let serde_json::Value::Object(capabilities) = capabilities else {
            bail!("capabilities must be an object");
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                // chromedriver takes a moment to listen.
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => return Err(error).context("cannot start a Chromium session"),
            }
        };
        Ok(Some(Browser {
            client,
            driver,
            _profile: profile,
        }))
    }

    /// Waits for a CSS selector to match, at most [`crate::WAIT`].
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(crate::WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("nothing matched {css}"))
    }

    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.wait_for(css).await?.send_keys(text).await?;
        Ok(())
    }

    /// Clicks what `css` matches. An element the page redrew between finding and clicking
    /// ("stale") is found again, a few times: the page is live, the test must not race it.
    /// The element is scrolled to the middle of the screen first, as a person scrolls a
    /// list before tapping: a fixed bar at the bottom (the app's Enter) must not be hit.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let mut tries = 0;
        loop {
            let element = self.wait_for(css).await?;
            let scrolled = self
                .client
                .execute(
                    "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});",
                    vec![serde_json::to_value(&element)?],
                )
                .await;
            if let Err(error) = scrolled
                && !is_stale(&error)
            {
                return Err(error.into());
            }
            match element.click().await {
                Err(error) if is_stale(&error) && tries < 3 => tries += 1,
                other => return Ok(other?),
            }
        }
    }

    /// The text of what `css` matches (found again if the page redrew it meanwhile).
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let mut tries = 0;
        loop {
            match self.wait_for(css).await?.text().await {
                Err(error) if is_stale(&error) && tries < 3 => tries += 1,
                other => return Ok(other?),
            }
        }
    }

    /// Runs `script` (asynchronous: it calls `done(value)`) until it yields a value that is
    /// neither null nor false, at most [`crate::WAIT`]; returns that value.
    pub async fn until(&self, what: &str, script: &str) -> anyhow::Result<serde_json::Value> {
        self.until_within(what, script, crate::WAIT).await
    }

    /// [`Browser::until`] with its own bound (a reconnection after a restart, a long replay).
    pub async fn until_within(
        &self,
        what: &str,
        script: &str,
        wait: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let wrapped = format!(
            "const done = arguments[arguments.length - 1]; \
             (async () => {{ {script} }})().then(done, () => done(null));"
        );
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let value = self.client.execute_async(&wrapped, vec![]).await?;
            if !value.is_null() && value != serde_json::Value::Bool(false) {
                return Ok(value);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs an asynchronous `script` once (it may use `args[0]`, and returns a value).
    pub async fn run(
        &self,
        script: &str,
        arg: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let wrapped = format!(
            "const done = arguments[arguments.length - 1]; const args = [arguments[0]]; \
             (async () => {{ {script} }})().then(done, (e) => done({{ error: String(e && e.stack || e) }}));"
        );
        Ok(self.client.execute_async(&wrapped, vec![arg]).await?)
    }

    /// Saves a screenshot when `GYMGATE_SCREENSHOTS` names a folder (how docs/images are made).
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<()> {
        if let Some(dir) = std::env::var_os("GYMGATE_SCREENSHOTS") {
            let png = self.client.screenshot().await?;
            std::fs::write(std::path::Path::new(&dir).join(name), png)?;
        }
        Ok(())
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.client.clone().close().await?;
        Ok(())
    }
}

/// A 640×480 grey video frame (YUV 4:2:0) with the payload's QR code in the middle.
pub fn y4m_of_qr(payload: &str) -> anyhow::Result<Vec<u8>> {
    let code = qrcode::QrCode::with_error_correction_level(payload.as_bytes(), qrcode::EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let (width, height) = (640usize, 480usize);
    let scale = (height - 20) / (modules + 8);
    anyhow::ensure!(
        scale >= 3,
        "QR code too dense for the frame: {modules} modules"
    );
    let size = (modules + 8) * scale;
    let (left, top) = ((width - size) / 2, (height - size) / 2);
    let mut luma = vec![200u8; width * height];
    for y in 0..size {
        for x in 0..size {
            let (mx, my) = ((x / scale).checked_sub(4), (y / scale).checked_sub(4));
            let dark = matches!((mx, my), (Some(mx), Some(my)) if mx < modules && my < modules
                && colors[my * modules + mx] == qrcode::Color::Dark);
            luma[(top + y) * width + left + x] = if dark { 16 } else { 235 };
        }
    }
    let mut out = format!("YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..2 {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&luma);
        out.extend(std::iter::repeat_n(128u8, width * height / 2));
    }
    Ok(out)
}
