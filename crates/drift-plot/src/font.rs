//! The bundled font: registration with plotters' `ab_glyph` text renderer, once per process.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::style::{FontStyle, register_font};

use crate::PlotError;

/// DejaVu Sans (Bitstream Vera licence, see `fonts/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// The family name every plot uses. It is also what SVG output names in `font-family`, so it
/// is a CSS font list: SVG viewers without DejaVu Sans fall back to a sans-serif font.
pub(crate) const FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";

static REGISTERED: OnceLock<bool> = OnceLock::new();
static GLYPH_FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();

/// The bundled font as an `ab_glyph` font, for the bitmap text renderer.
pub(crate) fn glyph_font() -> Result<&'static FontRef<'static>, FontLoadError> {
    GLYPH_FONT
        .get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
        .ok_or(FontLoadError)
}

/// The bundled font does not parse.
#[derive(Debug, thiserror::Error)]
#[error("the bundled font could not be parsed")]
pub(crate) struct FontLoadError;

/// Registers the bundled font under [`FAMILY`] (once); an error if the font does not load.
pub(crate) fn ensure_registered() -> Result<(), PlotError> {
    let ok = *REGISTERED.get_or_init(|| {
        register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
            && register_font(FAMILY, FontStyle::Bold, DEJAVU_SANS).is_ok()
    });
    if ok { Ok(()) } else { Err(PlotError::Font) }
}
