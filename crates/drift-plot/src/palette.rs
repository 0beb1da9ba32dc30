//! The one colour palette shared by all plots (Okabe–Ito, colour-blind friendly).

use plotters::style::RGBColor;

/// Series colours, as RGB, in the order series and rows take them: the Okabe–Ito palette,
/// reordered so the first colours contrast best on white (yellow last).
pub const PALETTE: [[u8; 3]; 8] = [
    [0x00, 0x72, 0xB2], // blue
    [0xD5, 0x5E, 0x00], // vermillion
    [0x00, 0x9E, 0x73], // bluish green
    [0xCC, 0x79, 0xA7], // reddish purple
    [0xE6, 0x9F, 0x00], // orange
    [0x56, 0xB4, 0xE9], // sky blue
    [0x00, 0x00, 0x00], // black
    [0xF0, 0xE4, 0x42], // yellow
];

/// Light grey of reference points (the data under samples).
pub const REFERENCE_GREY: [u8; 3] = [0xC4, 0xC4, 0xC4];

/// The colour of palette index `i` (wrapping around).
pub fn series_colour(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
}

pub(crate) fn rgb(c: [u8; 3]) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

pub(crate) fn colour(i: usize) -> RGBColor {
    rgb(series_colour(i))
}

pub(crate) const GRID_GREY: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
pub(crate) const AXIS_GREY: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(crate) const TEXT: RGBColor = RGBColor(0x20, 0x20, 0x20);
pub(crate) const MUTED_TEXT: RGBColor = RGBColor(0x60, 0x60, 0x60);
