//! Image operations checked on synthetic images whose result is known.

use opencv::core::{Mat, Vec3b};
use opencv::prelude::*;

use super::*;

/// Samples a uniform scene of colour `bgr` through the Bayer mosaic `format`.
fn mosaic(format: SensorFormat, width: u32, height: u32, bgr: [u8; 3]) -> Vec<u8> {
    let name = format.genicam_name();
    let pattern: Vec<char> = name["Bayer".len()..name.len() - 1].chars().collect();
    let channel = |c: char| match c {
        'B' => bgr[0],
        'G' => bgr[1],
        _ => bgr[2],
    };
    let mut raw = Vec::with_capacity((width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            // Row 0 holds pattern[0], pattern[1]; row 1 holds the other two colours.
            let c = match (y % 2, x % 2) {
                (0, 0) => pattern[0],
                (0, _) => pattern[1],
                (_, 0) => other(pattern[1]),
                _ => other(pattern[0]),
            };
            raw.push(channel(c));
        }
    }
    raw
}

/// In a 2x2 Bayer cell, the diagonal partner of R is B, of B is R, and of G is G.
fn other(c: char) -> char {
    match c {
        'R' => 'B',
        'B' => 'R',
        _ => 'G',
    }
}

fn pixel(image: &Mat, x: i32, y: i32) -> [u8; 3] {
    let v = image.at_2d::<Vec3b>(y, x).unwrap();
    [v[0], v[1], v[2]]
}

#[test]
fn every_bayer_pattern_demosaics_a_uniform_colour_to_that_colour() {
    let bgr = [30, 120, 220];
    for format in [
        SensorFormat::BayerRg8,
        SensorFormat::BayerGr8,
        SensorFormat::BayerGb8,
        SensorFormat::BayerBg8,
    ] {
        let raw = mosaic(format, 16, 12, bgr);
        let image = decode(&raw, 16, 12, format).unwrap();
        assert_eq!((image.cols(), image.rows(), image.channels()), (16, 12, 3));
        for (x, y) in [(4, 4), (5, 4), (4, 5), (7, 7)] {
            let got = pixel(&image, x, y);
            for c in 0..3 {
                assert!(
                    got[c].abs_diff(bgr[c]) <= 2,
                    "{format:?} at ({x},{y}): got {got:?}, want {bgr:?}"
                );
            }
        }
    }
}

#[test]
fn mono16_keeps_the_high_byte() {
    let raw: Vec<u8> = [0x1234u16, 0xff00, 0x00ff, 0x8080]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let image = decode(&raw, 2, 2, SensorFormat::Mono16).unwrap();
    assert_eq!(image.data_bytes().unwrap(), &[0x12, 0xff, 0x00, 0x80]);
}

#[test]
fn mono8_is_copied_and_rgb8_becomes_bgr8() {
    let mono = decode(&[1, 2, 3, 4, 5, 6], 3, 2, SensorFormat::Mono8).unwrap();
    assert_eq!(
        into_pixels(&mono).unwrap(),
        (PixelFormat::Mono8, vec![1, 2, 3, 4, 5, 6])
    );
    let rgb = decode(&[10, 20, 30, 40, 50, 60], 2, 1, SensorFormat::Rgb8).unwrap();
    assert_eq!(
        into_pixels(&rgb).unwrap(),
        (PixelFormat::Bgr8, vec![30, 20, 10, 60, 50, 40])
    );
}

#[test]
fn a_buffer_of_the_wrong_size_is_an_error() {
    let error = decode(&[0; 10], 4, 4, SensorFormat::Mono8).unwrap_err();
    assert!(
        matches!(
            error,
            ImageError::WrongSize {
                got: 10,
                expected: 16,
                ..
            }
        ),
        "{error}"
    );
    let error = decode(&[0; 16], 4, 4, SensorFormat::Rgb8).unwrap_err();
    assert!(
        matches!(error, ImageError::WrongSize { expected: 48, .. }),
        "{error}"
    );
}

#[test]
fn crop_takes_the_region_and_refuses_one_outside() {
    let raw: Vec<u8> = (0..20).collect();
    let image = decode(&raw, 5, 4, SensorFormat::Mono8).unwrap();
    let roi = Roi {
        x: 1,
        y: 2,
        width: 3,
        height: 2,
    };
    let cropped = crop(&image, roi).unwrap();
    assert_eq!(cropped.data_bytes().unwrap(), &[11, 12, 13, 16, 17, 18]);
    let outside = Roi {
        x: 3,
        y: 0,
        width: 3,
        height: 1,
    };
    assert!(matches!(
        crop(&image, outside),
        Err(ImageError::RoiOutside { .. })
    ));
}

#[test]
fn resize_by_half_averages_each_2x2_block() {
    let raw = [
        0, 2, 100, 100, 4, 6, 100, 100, 10, 10, 50, 50, 10, 10, 50, 50,
    ];
    let image = decode(&raw, 4, 4, SensorFormat::Mono8).unwrap();
    let small = resize(&image, 2, 2).unwrap();
    assert_eq!(small.data_bytes().unwrap(), &[3, 100, 10, 50]);
}

#[test]
fn clahe_stretches_a_low_contrast_image_and_keeps_grey_grey() {
    // Eight grey levels repeat across every row, so each CLAHE tile holds all of them.
    let (width, height) = (256u32, 256u32);
    let raw: Vec<u8> = (0..width * height).map(|i| 100 + (i % 8) as u8).collect();
    let spread = |bytes: &[u8]| bytes.iter().max().unwrap() - bytes.iter().min().unwrap();
    assert_eq!(spread(&raw), 7);
    let mono = decode(&raw, width, height, SensorFormat::Mono8).unwrap();
    let enhanced = clahe(&mono, 40.0).unwrap();
    assert!(spread(enhanced.data_bytes().unwrap()) > 150);

    let grey_rgb: Vec<u8> = raw.iter().flat_map(|&v| [v, v, v]).collect();
    let colour = decode(&grey_rgb, width, height, SensorFormat::Rgb8).unwrap();
    let enhanced = clahe(&colour, 40.0).unwrap();
    for bgr in enhanced.data_bytes().unwrap().chunks_exact(3) {
        assert!(
            bgr[0].abs_diff(bgr[1]) <= 1 && bgr[1].abs_diff(bgr[2]) <= 1,
            "{bgr:?}"
        );
    }
    assert!(spread(enhanced.data_bytes().unwrap()) > 150);
}

#[test]
fn processing_crops_then_resizes() {
    let raw = vec![200u8; 8 * 6];
    let processing = Processing {
        clahe_clip_limit: None,
        crop: Some(Roi {
            x: 2,
            y: 2,
            width: 4,
            height: 4,
        }),
        resize: Some((2, 2)),
    };
    let image = processing.run(&raw, 8, 6, SensorFormat::Mono8).unwrap();
    assert_eq!((image.cols(), image.rows()), (2, 2));
}

#[test]
fn format_names_parse_as_genicam_spells_them() {
    for format in ALL_SENSOR_FORMATS {
        assert_eq!(
            format.genicam_name().parse::<SensorFormat>().unwrap(),
            format
        );
    }
    assert!("bayerrg8".parse::<SensorFormat>().is_ok());
    assert!(matches!(
        "YUV422".parse::<SensorFormat>(),
        Err(ImageError::UnknownFormat(_))
    ));
}

#[test]
fn png_encoding_round_trips() {
    let raw: Vec<u8> = (0..48).collect();
    let image = decode(&raw, 4, 4, SensorFormat::Rgb8).unwrap();
    let png = encode_png(&image).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let decoded = opencv::imgcodecs::imdecode(
        &opencv::core::Vector::<u8>::from_slice(&png),
        opencv::imgcodecs::IMREAD_UNCHANGED,
    )
    .unwrap();
    assert_eq!(decoded.data_bytes().unwrap(), image.data_bytes().unwrap());
}

#[test]
fn usb_frames_of_every_format_decode_to_their_colour() {
    let (width, height) = (8u32, 4u32);
    let n = (width * height) as usize;
    // Mid grey in YUV: Y = U = V = 128.
    let yuyv = vec![128u8; n * 2];
    let nv12 = vec![128u8; n * 3 / 2];
    let rgb: Vec<u8> = (0..n).flat_map(|_| [200, 100, 50]).collect();
    let bgr: Vec<u8> = (0..n).flat_map(|_| [50, 100, 200]).collect();
    for (bytes, format, want) in [
        (&yuyv, UsbFormat::Yuyv, [128, 128, 128]),
        (&nv12, UsbFormat::Nv12, [128, 128, 128]),
        (&rgb, UsbFormat::Rgb, [50, 100, 200]),
        (&bgr, UsbFormat::Bgr, [50, 100, 200]),
    ] {
        let image = decode_usb(bytes, width, height, format).unwrap();
        let got = pixel(&image, 3, 2);
        for c in 0..3 {
            assert!(
                got[c].abs_diff(want[c]) <= 2,
                "{format:?}: {got:?} vs {want:?}"
            );
        }
    }
    let gray = decode_usb(&vec![7u8; n], width, height, UsbFormat::Gray).unwrap();
    assert_eq!(gray.channels(), 1);
}

#[test]
fn a_usb_jpeg_decodes_and_garbage_is_an_error() {
    let raw: Vec<u8> = (0..16 * 16).flat_map(|_| [0u8, 0, 255]).collect();
    let image = decode(&raw, 16, 16, SensorFormat::Rgb8).unwrap();
    let mut jpeg = opencv::core::Vector::<u8>::new();
    opencv::imgcodecs::imencode_def(".jpg", &image, &mut jpeg).unwrap();
    let decoded = decode_usb(&jpeg.to_vec(), 16, 16, UsbFormat::Mjpeg).unwrap();
    let got = pixel(&decoded, 8, 8);
    assert!(got[2].abs_diff(0) <= 8 && got[0] >= 240, "{got:?}");
    assert!(matches!(
        decode_usb(b"not a jpeg", 16, 16, UsbFormat::Mjpeg),
        Err(ImageError::BadJpeg) | Err(ImageError::OpenCv(_))
    ));
    assert!(matches!(
        decode_usb(&[0u8; 10], 8, 4, UsbFormat::Yuyv),
        Err(ImageError::WrongUsbSize { expected: 64, .. })
    ));
}
