#pragma once
/// \file
/// NumPy `.npy` / `.npz` array files: the project's format for weights and checkpoints.
///
/// An `.npz` is a zip archive of `NAME.npy` members, what `numpy.savez` writes; `numpy.load(path,
/// allow_pickle=False)` reads the files written here and returns the same names (including '/'
/// inside names, e.g. `tower/conv2d_1/kernel`).
///
/// **On disk every array is float32** (`'<f4'`), whatever the build's scalar type: a double build
/// (-DXGRAD_DOUBLE=ON) rounds to the nearest float32 on save (values beyond float range become
/// ±inf). Loading converts to `real`.
///
/// **Writing** goes to a temporary file in the target's directory, which is flushed, fsync'ed and
/// renamed over the target only when complete: a crash or a failed write never leaves a
/// half-written file where a good one was, and a failed save removes its temporary file. Files are
/// deterministic: the same arrays always give the same bytes (entry times are 1980-01-01 00:00).
///
/// **Reading** validates the whole file and either returns every array or throws; it never
/// returns a partial result and never reads out of bounds, whatever the bytes. Supported:
/// - zip: stored and deflate-compressed members (`numpy.savez`, `numpy.savez_compressed`), zip64
///   extra fields and the zip64 end-of-central-directory record/locator, data descriptors
///   (the central directory is the source of truth); CRC-32 is checked for every member.
///   Rejected: encryption, multi-disk archives, other compression methods, members whose name
///   does not end in ".npy".
/// - npy: format versions 1.0, 2.0 and 3.0; dtypes float32/float64, int8/16/32/64,
///   uint8/16/32/64 and bool, little- or big-endian (converted to `real`: integers beyond 2^24
///   in a float build, 2^53 in a double build, round to the nearest value); `fortran_order:
///   True` (transposed into row-major). Rejected with a message naming the dtype: complex,
///   float16, strings, datetimes, object (`'|O'`, needs pickle), structured dtypes.
/// - memory: an array is allocated only once its shape has been checked to match its member's
///   size, which is bounded by the file size (or, for deflate, by 1032 times the compressed
///   size, deflate's maximum ratio). Each array is decoded straight into its storage (one copy).
///
/// Every error is a std::runtime_error whose message starts with the function and the file path
/// and says what is wrong (e.g. "load_npz: '/w/model.npz': entry 'dense/kernel.npy': CRC-32
/// mismatch ..."), except invalid array names given to a save function, which throw
/// std::invalid_argument.

#include <string>
#include <vector>

#include "autograd/named_tensors.h"
#include "autograd/tensor.h"

namespace xgrad {

// NamedTensors (autograd/named_tensors.h) holds the arrays of an .npz in file order; a name is
// the zip member name without ".npy".

/// The on-disk dtype of each array load_npz returned, by position, as numpy names it
/// (`numpy.dtype(descr).name`, byte order aside): "float32", "float64", "int8" … "int64",
/// "uint8" … "uint64" or "bool". Lets callers insist on floating-point data.
using NpzDtypes = std::vector<std::string>;

/// Writes `arrays` to `path` as an uncompressed `.npz` (one float32 C-order `NAME.npy` member per
/// array, in the given order), atomically: through a temporary file in the same directory that is
/// renamed into place. zip64 records are written when a member or offset exceeds 4 GiB - 1.
///
/// Names must be non-empty, valid UTF-8, relative paths whose '/'-separated components are
/// neither empty, "." nor ".."; they may not contain '\\' or NUL, and must be unique; otherwise
/// throws std::invalid_argument (before touching the file system). Every tensor must be defined
/// (std::invalid_argument). Throws std::runtime_error naming `path` when the file cannot be
/// written; the previous file at `path`, if any, is then left untouched.
void save_npz(const std::string& path, const NamedTensors& arrays);

/// Reads every array of the `.npz` at `path`, in central-directory (file) order, converted to
/// `real`. See the file comment for the supported zip and npy features. Throws
/// std::runtime_error naming the file (and the member) on any error: missing or unreadable file,
/// not a zip, truncated archive, CRC mismatch, unsupported compression or dtype, bad .npy header,
/// shape/data size mismatch, a member whose name does not end in ".npy", duplicate names, and
/// names save_npz would reject (empty, absolute, with '.' or '..' components, ...).
/// When `dtypes` is given, it receives the on-disk dtype of every array (see NpzDtypes); it is
/// only written when the load succeeds.
NamedTensors load_npz(const std::string& path, NpzDtypes* dtypes = nullptr);

/// Writes one tensor to `path` as a float32 `.npy` (format 1.0, C order), atomically like
/// save_npz. Throws std::invalid_argument for an undefined tensor and std::runtime_error naming
/// `path` when the file cannot be written.
void save_npy(const std::string& path, const Tensor& t);

/// Reads the single-array `.npy` at `path` (same dtypes and versions as load_npz), converted to
/// `real`. The file must hold exactly the header and the data. Throws std::runtime_error naming
/// the file on any error. When `dtype` is given, it receives the on-disk dtype (see NpzDtypes).
Tensor load_npy(const std::string& path, std::string* dtype = nullptr);

namespace detail {
/// Test hook: save_npz, but writing zip64 extra fields for every member and the zip64
/// end-of-central-directory record and locator, as if the archive exceeded 4 GiB. Lets tests
/// check the zip64 writer (and numpy's reading of it) without writing 4 GiB.
void save_npz_force_zip64(const std::string& path, const NamedTensors& arrays);
}  // namespace detail

}  // namespace xgrad
