//! QR codes of client configs, for phones (the WireGuard apps scan them): SVG and PNG for
//! the API, Unicode blocks for a terminal (`wiregate peer config --qr`).

use qrcode::render::{svg, unicode};
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module in PNGs (tunable), and the quiet zone around the code, in modules.
const PNG_SCALE: usize = 8;
const QUIET: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("the config is too long for a QR code: {0}")]
    TooLong(qrcode::types::QrError),
    #[error("encoding the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

fn code(text: &str) -> Result<QrCode, QrError> {
    // Level M (15 % redundancy) keeps a typical config readable from a screen.
    QrCode::with_error_correction_level(text, EcLevel::M).map_err(QrError::TooLong)
}

pub fn svg(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

pub fn terminal(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// An 8-bit greyscale PNG, black modules on white.
pub fn png(text: &str) -> Result<Vec<u8>, QrError> {
    let code = code(text)?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (
                (i % width + QUIET) * PNG_SCALE,
                (i / width + QUIET) * PNG_SCALE,
            );
            for row in y..y + PNG_SCALE {
                pixels[row * side + x..row * side + x + PNG_SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_all_three_and_refuses_the_impossible() {
        let config = "[Interface]\nAddress = 10.8.0.2/32\n\n[Peer]\nPublicKey = x\nAllowedIPs = 10.8.0.0/24\n";
        assert!(svg(config).unwrap().starts_with("<?xml"));
        let png = png(config).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(terminal(config).unwrap().lines().count() > 10);
        assert!(matches!(svg(&"x".repeat(5000)), Err(QrError::TooLong(_))));
    }
}
