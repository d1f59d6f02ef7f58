//! Members' photos: uploaded by support, re-encoded as small JPEGs without metadata (bad files
//! refused), fetched by desks of centers the member visits and kept on the PC (shown
//! offline), and shown on the member's own pass.

use std::io::Cursor;

use gymgate_shared::api::{NewOperator, Role};
use gymgate_tests::browser::Browser;
use gymgate_tests::desk_core::pairing;
use gymgate_tests::{ConsoleClient, Fixture, MemberClient, PIN, Proxy, RunningDesk, TestServer};
use reqwest::{Method, StatusCode};

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode");
    out
}

async fn upload(
    url: &str,
    member_no: &str,
    body: Vec<u8>,
) -> anyhow::Result<(StatusCode, serde_json::Value)> {
    let response = reqwest::Client::new()
        .put(format!("{url}/api/v1/admin/members/{member_no}/photo"))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    ))
}

/// Uploads a photo for `member_no` and waits for the desk to hear of it and keep it: the
/// member as the desk knows them, and the file on the PC.
async fn photo_on_desk(
    url: &str,
    member_no: &str,
    desk: &mut RunningDesk,
    size: u32,
) -> anyhow::Result<(gymgate_shared::api::RosterMember, std::path::PathBuf)> {
    let (status, answer) = upload(url, member_no, png(size, size)).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // Desks that know the member hear that the photo changed.
    let known = desk
        .wait_for("the member with a photo", |e| match e {
            gymgate_desk_core::CoreEvent::Member(m) if m.photo_url.is_some() => Some(m.clone()),
            _ => None,
        })
        .await?;
    let path = desk
        .core
        .photo(&known)
        .await
        .ok_or_else(|| anyhow::anyhow!("no photo fetched"))?;
    Ok((known, path))
}

#[tokio::test]
async fn a_photo_is_cleaned_refused_when_bad_and_seen_only_where_the_member_visits()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let here = fx.center("강남점").await?;
    let there = fx.center("홍대점").await?;
    let desk_here = fx.desk(here.id.as_str()).await?;
    let desk_there = fx.desk(there.id.as_str()).await?;
    let numbers = fx.members("PH", 2, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    let other = MemberClient::login(&url, &numbers[1], PIN).await?;
    member.tap(here.id.as_str(), "k").await?.checkin()?;

    // Bad files are refused with a clear reason; nothing is stored.
    for (body, code) in [
        (b"not a photo".to_vec(), "not_an_image"),
        (
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00".to_vec(),
            "not_an_image",
        ),
        (png(7000, 1), "image_too_large"),
        (png(40, 40)[..60].to_vec(), "image_damaged"),
    ] {
        let (status, answer) = upload(&url, &numbers[0], body).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["code"], code);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("사진"),
            "a Korean message: {answer}"
        );
    }
    let (status, _) = upload(&url, &numbers[0], vec![0u8; 6 * 1024 * 1024]).await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = upload(&url, "NOBODY", png(10, 10)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A JPEG carrying an EXIF block with a location: stored without it.
    let mut plain = Vec::new();
    image::RgbImage::from_pixel(800, 600, image::Rgb([90, 60, 30]))
        .write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Jpeg)?;
    let exif: &[u8] = b"Exif\0\0GPS 37.5665N 126.9780E";
    let length = u16::try_from(exif.len() + 2)?.to_be_bytes();
    let mut with_exif = vec![0xFF, 0xD8, 0xFF, 0xE1, length[0], length[1]];
    with_exif.extend_from_slice(exif);
    with_exif.extend_from_slice(&plain[2..]);
    let (status, answer) = upload(&url, &numbers[0], with_exif).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let photo_url = answer["photo_url"].as_str().unwrap_or_default().to_owned();
    assert!(photo_url.starts_with("/api/v1/desk/photos/"), "{photo_url}");

    let http = reqwest::Client::new();
    let fetched = http
        .get(format!("{url}{photo_url}"))
        .bearer_auth(&desk_here.token)
        .send()
        .await?;
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.headers()["content-type"], "image/jpeg");
    let jpeg = fetched.bytes().await?;
    let decoded = image::load_from_memory(&jpeg)?;
    assert_eq!((decoded.width(), decoded.height()), (320, 240));
    assert!(!jpeg.windows(3).any(|w| w == b"GPS"), "metadata stripped");
    // A desk of a center the member never visited sees nothing.
    let elsewhere = http
        .get(format!("{url}{photo_url}"))
        .bearer_auth(&desk_there.token)
        .send()
        .await?;
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let anonymous = http.get(format!("{url}{photo_url}")).send().await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // The member sees their own; another member has none.
    let own = http
        .get(format!("{url}/api/v1/me/photo"))
        .bearer_auth(&member.token)
        .send()
        .await?;
    assert_eq!(own.status(), StatusCode::OK);
    let none = http
        .get(format!("{url}/api/v1/me/photo"))
        .bearer_auth(&other.token)
        .send()
        .await?;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);

    // Support can replace and remove photos; viewers cannot; each change is audited.
    for (name, role) in [("help", Role::Support), ("watch", Role::Viewer)] {
        fx.admin
            .add_operator(&NewOperator {
                username: name.into(),
                password: "사진-테스트-비밀번호".into(),
                role,
            })
            .await?;
    }
    let watch = ConsoleClient::login(&url, "watch", "사진-테스트-비밀번호").await?;
    let refused = watch
        .send(
            Method::DELETE,
            &format!("/api/v1/admin/members/{}/photo", numbers[0]),
            serde_json::json!({}),
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let audit = fx.admin.audit().await?;
    assert!(
        audit
            .iter()
            .any(|a| a.action == "member.photo"
                && a.member_no.as_deref() == Some(numbers[0].as_str()))
    );
    Ok(())
}

/// The desk fetches a member's photo once, keeps it next to its cache, and still has it with
/// the server out of reach; unpairing deletes it.
#[tokio::test]
async fn the_desk_keeps_photos_and_shows_them_offline() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let proxy = Proxy::start(server.addr).await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("PD", 1, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    member.tap(center.id.as_str(), "k").await?.checkin()?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&proxy.url(), &paired)).await?;
    desk.wait_online().await?;

    let (known, path) = photo_on_desk(&url, &numbers[0], &mut desk, 500).await?;
    assert!(path.starts_with(data.path().join(gymgate_desk_core::PHOTOS_DIR)));
    let on_disk = std::fs::read(&path)?;
    assert_eq!(image::load_from_memory(&on_disk)?.width(), 320);

    // The server is out of reach: the photo is still there for the card.
    proxy.cut();
    desk.wait_offline().await?;
    assert_eq!(desk.core.photo(&known).await, Some(path.clone()));
    // A photo never fetched cannot be shown offline; the card shows the initial.
    let mut unseen = known.clone();
    unseen.photo_url = Some(format!("/api/v1/desk/photos/{}?v=ffffffffffff", known.id));
    assert_eq!(desk.core.photo(&unseen).await, None);
    // A hostile URL cannot name a file outside the folder.
    let mut hostile = known.clone();
    hostile.photo_url = Some("/x?v=../../cache".into());
    assert_eq!(desk.core.photo(&hostile).await, None);

    // Unpairing deletes members' photos with the rest of their data.
    desk.core.forget_members().await?;
    assert!(!path.exists());
    desk.stop().await
}

#[tokio::test]
async fn the_member_app_shows_the_members_own_photo_on_the_pass() -> anyhow::Result<()> {
    let Some(browser) = Browser::start().await? else {
        return Ok(());
    };
    let server = TestServer::start().await?;
    let fx = Fixture::new(server.url());
    fx.center("강남점").await?;
    let numbers = fx.members("PM", 1, Some(8)).await?;
    let (status, _) = upload(&server.url(), &numbers[0], png(400, 400)).await?;
    assert_eq!(status, StatusCode::OK);
    browser.client.goto(&server.url()).await?;
    browser.type_into("#login-member-no", &numbers[0]).await?;
    browser.type_into("#login-pin", PIN).await?;
    browser.click("#login-submit").await?;
    let photo = browser.wait_for("#home-photo").await?;
    let src = photo.attr("src").await?.unwrap_or_default();
    assert!(
        src.starts_with("data:image/jpeg;base64,"),
        "{}",
        &src[..src.len().min(40)]
    );
    browser.click("#open-pass").await?;
    browser.wait_for("#pass-photo:not([hidden])").await?;
    browser.screenshot("member-pass-photo.png").await?;
    browser.close().await
}

/// A member list with photos comes as one zip: the CSV and the photo files its `photo` column
/// names. Members come in either way; a missing or bad photo is reported on its line.
#[tokio::test]
async fn a_zip_import_brings_members_with_their_photos() -> anyhow::Result<()> {
    use std::io::Write;
    let server = TestServer::start().await?;
    let url = server.url();
    let today = gymgate_shared::kst::date_of(chrono::Utc::now());
    let (from, until) = (
        today - chrono::Duration::days(10),
        today + chrono::Duration::days(300),
    );
    let csv = format!(
        "member_no,name,phone,pin,plan,visits_per_month,valid_from,valid_until,birthday,photo\n\
         Z1,사진있음,010-1111-0001,{PIN},월 8회,8,{from},{until},,photos/z1.png\n\
         Z2,사진깨짐,010-1111-0002,{PIN},월 8회,8,{from},{until},,z2.jpg\n\
         Z3,사진없음,010-1111-0003,{PIN},월 8회,8,{from},{until},,nowhere.png\n\
         Z4,사진안씀,010-1111-0004,{PIN},월 8회,8,{from},{until},,\n"
    );
    let mut zipped = Vec::new();
    {
        let mut writer = zip::ZipWriter::new(Cursor::new(&mut zipped));
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("members.csv", options)?;
        writer.write_all(csv.as_bytes())?;
        writer.start_file("photos/z1.png", options)?;
        writer.write_all(&png(600, 800))?;
        writer.start_file("z2.jpg", options)?;
        writer.write_all(b"\xFF\xD8\xFF\xE0 this is not really a jpeg")?;
        writer.finish()?;
    }
    let http = reqwest::Client::new();
    let job: serde_json::Value = http
        .post(format!("{url}/api/v1/admin/members/import"))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .body(zipped)
        .send()
        .await?
        .json()
        .await?;
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    let deadline = tokio::time::Instant::now() + gymgate_tests::WAIT * 3;
    let job = loop {
        let job: serde_json::Value = http
            .get(format!("{url}/api/v1/admin/imports/{id}"))
            .bearer_auth(gymgate_tests::ADMIN_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        if job["state"] == "done" {
            break job;
        }
        anyhow::ensure!(job["state"] != "failed", "import failed: {job}");
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "import never finished: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(job["created"], 4, "{job}");
    let errors = job["errors"].as_array().cloned().unwrap_or_default();
    let lines: Vec<u64> = errors.iter().filter_map(|e| e["line"].as_u64()).collect();
    assert_eq!(lines, vec![3, 4], "{errors:?}");
    assert!(
        errors.iter().all(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("사진만 가져오지 못했습니다")),
        "{errors:?}"
    );
    for (no, has) in [("Z1", true), ("Z2", false), ("Z3", false), ("Z4", false)] {
        let member = MemberClient::login(&url, no, PIN).await?;
        let photo = http
            .get(format!("{url}/api/v1/me/photo"))
            .bearer_auth(&member.token)
            .send()
            .await?;
        assert_eq!(photo.status() == StatusCode::OK, has, "{no}");
        if has {
            let jpeg = photo.bytes().await?;
            assert_eq!(image::load_from_memory(&jpeg)?.height(), 320);
        }
    }
    // A zip without a CSV is refused at once, saying so.
    let mut empty = Vec::new();
    {
        let mut writer = zip::ZipWriter::new(Cursor::new(&mut empty));
        writer.start_file("a.png", zip::write::SimpleFileOptions::default())?;
        writer.write_all(&png(4, 4))?;
        writer.finish()?;
    }
    let refused = http
        .post(format!("{url}/api/v1/admin/members/import"))
        .bearer_auth(gymgate_tests::ADMIN_TOKEN)
        .body(empty)
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(body["error"]["code"], "invalid_zip");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CSV")
    );
    Ok(())
}

/// A member who deletes their account (issue 27) disappears from the desk's PC too: the desk
/// hears the pseudonymous row without a photo and deletes the photo file it kept.
#[tokio::test]
async fn a_deleted_members_photo_is_deleted_from_the_desk() -> anyhow::Result<()> {
    let server = TestServer::start().await?;
    let url = server.url();
    let fx = Fixture::new(url.clone());
    let center = fx.center("강남점").await?;
    let paired = fx.desk(center.id.as_str()).await?;
    let numbers = fx.members("PX", 1, Some(8)).await?;
    let member = MemberClient::login(&url, &numbers[0], PIN).await?;
    member.tap(center.id.as_str(), "k").await?.checkin()?;
    let data = tempfile::tempdir()?;
    let mut desk = RunningDesk::start(data.path(), pairing(&url, &paired)).await?;
    desk.wait_online().await?;
    let (known, path) = photo_on_desk(&url, &numbers[0], &mut desk, 400).await?;
    assert!(path.exists());

    let deleted = reqwest::Client::new()
        .post(format!("{url}/api/v1/me/delete"))
        .bearer_auth(&member.token)
        .json(&serde_json::json!({ "pin": PIN }))
        .send()
        .await?;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = desk
        .wait_for("the pseudonymous member", |e| match e {
            gymgate_desk_core::CoreEvent::Member(m) if m.id == known.id => Some(m.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(gone.name, "탈퇴 회원");
    assert!(gone.photo_url.is_none());
    assert!(!path.exists(), "the photo file is deleted");
    // The roster no longer finds them by name or number.
    assert!(desk.core.search("회원0".into()).await.is_empty());
    assert!(desk.core.search(numbers[0].clone()).await.is_empty());
    desk.stop().await
}
