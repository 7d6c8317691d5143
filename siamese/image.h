#pragma once
/// \file
/// Image files for the siamese data loader: decoding JPEG, PNG and PGM/PPM into 8-bit
/// pixels, and TensorFlow-compatible bilinear resizing to float.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace xgrad::siamese {

/// An 8-bit image: `height` rows of `width` pixels of `channels` interleaved samples
/// (1 = gray, 3 = RGB), row-major, so the sample (y, x, c) is
/// `pixels[(y * width + x) * channels + c]`.
struct Image {
  std::size_t height = 0, width = 0, channels = 0;
  std::vector<std::uint8_t> pixels;  ///< height × width × channels samples, 0..255
};

/// Decodes an image file into `channels` (1 or 3) 8-bit channels.
///
/// The format is chosen by the file's CONTENT (its magic bytes), never by its extension:
/// - JPEG (libjpeg-turbo): baseline and progressive; gray, YCbCr, RGB, and CMYK/YCCK
///   (assumed Adobe-inverted, as Photoshop writes it: R = C·K/255, …).
///   Decoded with libjpeg's defaults (accurate integer IDCT, fancy upsampling). With
///   `channels == 1` a YCbCr file yields libjpeg's own luma (its Y channel, as TF's
///   `decode_jpeg(channels=1)`), which is the BT.601 luma below computed by the encoder.
/// - PNG (libpng): gray, gray+alpha, palette, RGB, RGBA; 1/2/4/8/16-bit; interlaced;
///   tRNS (transparency, dropped with alpha). 16-bit samples keep their high byte (v >> 8), as TF's
///   `decode_png` does for uint8 output. Gamma, colour profiles and background chunks are ignored
///   (as in TF).
/// - PGM/PPM (read directly): P2/P3 (ASCII) and P5/P6 (binary), `#` comments in the
///   header, maxval 1..65535 (16-bit binary samples are big-endian). Samples are scaled to
///   0..255 as round(v · 255 / maxval); maxval 255 is used as is.
///
/// Channel conversion:
/// - gray → RGB replicates the gray value into R, G and B;
/// - RGB → gray is the ITU-R BT.601 luma, round(0.299 R + 0.587 G + 0.114 B) (halves
///   round up), computed exactly in integers on the 8-bit samples;
/// - an alpha channel (PNG gray+alpha, RGBA, or tRNS transparency) is simply DROPPED: the
///   colour samples are kept as stored, not composited onto any background. This is what
///   TF's `decode_png(channels=1 or 3)` does.
///
/// Robustness: libjpeg and libpng never print to stderr, abort or longjmp past this
/// function: their errors become exceptions. A JPEG that makes libjpeg emit any warning
/// (e.g. "Premature end of JPEG file" for a truncated file, which libjpeg would otherwise
/// pad with gray, or "Corrupt JPEG data: …") is rejected. A PNG must be complete up to and
/// including IEND, and a CRC error in any chunk, critical or ancillary, is an error.
/// Bytes after the image (after a PNG's IEND, a JPEG's EOI, or a PNM raster) are ignored.
///
/// Thread-safe: every call has its own decoder state, so a loader may decode files in
/// parallel.
///
/// Throws std::invalid_argument if `channels` is not 1 or 3, and std::runtime_error whose
/// message starts with `path` and names the problem: missing or unreadable file, empty
/// file, unknown format ("not a JPEG, PNG, PGM or PPM image"), an unsupported variant
/// (e.g. PBM or PAM), truncated or corrupt data, or dimensions so large that
/// width × height × channels exceeds 2^28 samples (checked before any pixel is allocated).
Image decode_image(const std::string& path, std::size_t channels);

/// Resizes `image` to `height` × `width` with bilinear interpolation as TensorFlow's
/// `tf.image.resize(images, [height, width], method='bilinear', antialias=False)` does
/// (ResizeBilinear with half_pixel_centers=True), with TF's formula and operation order
/// in float (results can differ from TF's in the last bit where a compiler fuses a
/// multiply-add):
///
///     scale = in_size / out_size                       (per axis, as float)
///     src   = (dst + 0.5) · scale − 0.5
///     lower = max(floor(src), 0),  upper = min(ceil(src), in_size − 1),
///     lerp  = src − floor(src)
///     top    = tl + (tr − tl) · x_lerp,  bottom = bl + (br − bl) · x_lerp
///     out    = top + (bottom − top) · y_lerp
///
/// so samples beyond the edge are clamped to the edge pixel. There is no antialiasing
/// when shrinking (as TF with antialias=False). Every channel is interpolated alike.
///
/// Returns `height × width × image.channels` floats, row-major [height, width, channels],
/// in the input's 0..255 scale and NOT rounded (TF returns float32). Equal sizes return
/// the pixels unchanged (converted to float).
///
/// Throws std::invalid_argument naming the shapes if the image is empty or inconsistent
/// (pixels.size() != height × width × channels) or if `height` or `width` is 0.
std::vector<float> resize_bilinear(const Image& image, std::size_t height, std::size_t width);

}  // namespace xgrad::siamese
