//! Member photos: an upload is decoded and re-encoded as a small JPEG thumbnail, so only
//! pixels are kept (no metadata: a phone photo's location and camera stay out) and a file
//! that is not a real JPEG or PNG, or is too big to decode safely, is refused before it is
//! stored.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// What an upload may weigh (the route's body limit).
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// Widest and tallest photo decoded; larger ones are refused before decoding.
const MAX_SIDE: u32 = 6000;
/// The thumbnail's longest side: the desk's big card shows it at 160 px, twice that is sharp
/// on a high-DPI screen.
pub const THUMBNAIL_SIDE: u32 = 320;
const JPEG_QUALITY: u8 = 85;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhotoError {
    #[error("사진은 JPEG 또는 PNG 파일이어야 합니다 / a photo must be a JPEG or PNG file")]
    NotAnImage,
    #[error(
        "사진이 너무 큽니다 (가로·세로 6000픽셀 이하) / the photo is too large (at most 6000 pixels a side)"
    )]
    TooLarge,
    #[error("사진 파일이 손상되었습니다 / the photo file is damaged")]
    Damaged,
}

/// The stored thumbnail of an uploaded photo.
pub fn thumbnail(bytes: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let format = image::guess_format(bytes).map_err(|_| PhotoError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        return Err(PhotoError::NotAnImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => PhotoError::TooLarge,
        _ => PhotoError::Damaged,
    })?;
    let small = decoded.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&small)
        .map_err(|_| PhotoError::Damaged)?;
    Ok(out)
}

/// A short version tag for a photo, so a changed photo gets a new URL (and desks fetch it).
pub fn version(jpeg: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(jpeg)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([200, 120, 40]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .expect("encode");
        out
    }

    #[test]
    fn a_photo_becomes_a_small_jpeg_without_its_metadata() {
        let jpeg = thumbnail(&png(1200, 800)).expect("thumbnail");
        assert_eq!(image::guess_format(&jpeg).ok(), Some(ImageFormat::Jpeg));
        let back = image::load_from_memory(&jpeg).expect("decode");
        assert_eq!((back.width(), back.height()), (320, 213));

        // A JPEG carrying an EXIF block (as phones write location into it).
        let mut plain = Vec::new();
        image::RgbImage::from_pixel(64, 64, image::Rgb([1, 2, 3]))
            .write_to(&mut Cursor::new(&mut plain), ImageFormat::Jpeg)
            .expect("encode");
        let segment: &[u8] = b"Exif\0\0GPS 37.5665N 126.97";
        let length = u16::try_from(segment.len() + 2)
            .expect("short")
            .to_be_bytes();
        let mut exif = vec![0xFF, 0xD8, 0xFF, 0xE1, length[0], length[1]];
        exif.extend_from_slice(segment);
        exif.extend_from_slice(&plain[2..]);
        assert!(image::load_from_memory(&exif).is_ok(), "still a valid JPEG");
        let cleaned = thumbnail(&exif).expect("thumbnail");
        assert!(!cleaned.windows(4).any(|w| w == b"Exif"));
        assert!(!cleaned.windows(3).any(|w| w == b"GPS"));
    }

    #[test]
    fn what_is_not_a_safe_photo_is_refused() {
        assert_eq!(
            thumbnail(b"not an image at all"),
            Err(PhotoError::NotAnImage)
        );
        assert_eq!(
            thumbnail(b"GIF89a\x01\x00\x01\x00"),
            Err(PhotoError::NotAnImage)
        );
        let mut cut = png(100, 100);
        cut.truncate(cut.len() / 2);
        assert_eq!(thumbnail(&cut), Err(PhotoError::Damaged));
        assert_eq!(thumbnail(&png(7000, 1)), Err(PhotoError::TooLarge));
    }
}
