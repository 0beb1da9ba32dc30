//! Generic Parquet reading and writing of Arrow record batches with drift's fixed,
//! byte-deterministic writer settings; the typed artifact schemas build on it.

use std::fs::File;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

use crate::{IoError, write_atomic};

/// Maximum number of rows per Parquet row group (fixed, so files are reproducible).
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Rows per data page (fixed for the same reason).
const PAGE_ROWS: usize = 20_000;

/// Rows per batch handed back by the readers.
const READ_BATCH_ROWS: usize = 64 * 1024;

/// What a table holds, which decides how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Continuous numbers (points, snapshots, labels, loss curves): plain encoding, no
    /// compression. ZSTD saved 9% on 1M x 2 random f32 points at 0.65x the write speed and
    /// 0.33x the read speed (BENCHMARKS.md, "Artifact I/O"), and dictionaries never pay on
    /// continuous values.
    Numeric,
    /// Repeated strings and mixed columns (metrics, report tables): dictionary encoding and
    /// ZSTD level 1.
    Labelled,
}

/// The Parquet writer settings of every drift artifact. Everything that influences the
/// bytes is pinned here rather than left to library defaults: Parquet format 1.0 data
/// pages, at most [`ROW_GROUP_ROWS`] rows per row group, page-level statistics, no bloom
/// filters; encoding and compression by [`Content`].
pub fn writer_properties(content: Content) -> WriterProperties {
    let (dictionary, compression) = match content {
        Content::Numeric => (false, Compression::UNCOMPRESSED),
        Content::Labelled => (true, Compression::ZSTD(ZstdLevel::default())),
    };
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(compression)
        .set_dictionary_enabled(dictionary)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(None)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_bloom_filter_enabled(false)
        .set_content_defined_chunking(None)
        .build()
}

/// Encodes `batch` as a complete Parquet file in memory.
pub(crate) fn encode(
    path: &Path,
    batch: &RecordBatch,
    content: Content,
) -> Result<Vec<u8>, IoError> {
    let encode_err = |source| IoError::Encode {
        path: path.to_path_buf(),
        source,
    };
    // Sized for the uncompressed data up front: growing by doubling copied a large table
    // about twice more.
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() + (64 << 10));
    let mut writer =
        ArrowWriter::try_new(&mut buf, batch.schema(), Some(writer_properties(content)))
            .map_err(encode_err)?;
    writer.write(batch).map_err(encode_err)?;
    writer.close().map_err(encode_err)?;
    Ok(buf)
}

/// Writes `batch` to `path` as Parquet (atomically, byte-deterministic, encoded as
/// [`Content::Labelled`]). The Arrow schema is stored in the footer so that types such as
/// `UInt64` survive the round trip.
pub fn write_record_batch(path: &Path, batch: &RecordBatch) -> Result<(), IoError> {
    let bytes = encode(path, batch, Content::Labelled)?;
    write_atomic(path, &bytes)
}

/// Opens a Parquet file for reading, mapping failures to errors that name the file.
pub(crate) fn open_reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, IoError> {
    let file = File::open(path).map_err(|e| IoError::fs(path, "open", e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| IoError::NotParquet {
        path: path.to_path_buf(),
        source,
    })
}

/// Decodes every row of an opened file into record batches.
pub(crate) fn read_all(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<File>,
) -> Result<Vec<RecordBatch>, IoError> {
    let reader = builder
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(|source| IoError::NotParquet {
            path: path.to_path_buf(),
            source,
        })?;
    reader
        .map(|batch| {
            batch.map_err(|source| IoError::Decode {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}

/// Reads every row of the Parquet file at `path`, as record batches in file order.
/// No schema is imposed; an empty file (no rows) gives an empty vector.
pub fn read_record_batches(path: &Path) -> Result<Vec<RecordBatch>, IoError> {
    let builder = open_reader(path)?;
    read_all(path, builder)
}
