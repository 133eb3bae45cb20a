//! Writing a host's tar stream to disk as it arrives: optionally encrypted
//! on the way (the plaintext never touches the disk), and read by a second
//! thread at the same time to build the manifest, so a backup of any size
//! needs one pass and bounded memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::mpsc::{Receiver, SyncSender};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use super::{BackupError, Entry, manifest};

/// Chunks in flight to the indexing thread: bounds memory when it lags.
const QUEUE: usize = 64;

enum Output {
    Plain(BufWriter<File>),
    Encrypted(age::stream::StreamWriter<BufWriter<File>>),
}

/// The archive file being written, and the manifest being built from it.
pub struct ArchiveWriter {
    path: PathBuf,
    output: Output,
    size: u64,
    chunks: Option<SyncSender<Vec<u8>>>,
    indexer: JoinHandle<Result<Vec<Entry>, BackupError>>,
}

impl ArchiveWriter {
    /// Creates `path` (0600), encrypting to `keys` when given.
    pub fn create(
        path: &Path,
        keys: Option<&[age::x25519::Recipient]>,
    ) -> Result<ArchiveWriter, BackupError> {
        let file = crate::secrets::identity::private_file(path)?;
        let file = BufWriter::new(file);
        let output = match keys {
            Some(keys) => Output::Encrypted(crate::secrets::vault::encrypt_to(file, keys)?),
            None => Output::Plain(file),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let indexer = std::thread::spawn(move || manifest::index(ChunkReader::new(rx)));
        Ok(ArchiveWriter {
            path: path.to_path_buf(),
            output,
            size: 0,
            chunks: Some(tx),
            indexer,
        })
    }

    /// Finishes the file (flushed and synced) and returns the manifest
    /// entries and the archive's (unencrypted) size.
    pub fn finish(mut self) -> Result<(Vec<Entry>, u64), BackupError> {
        drop(self.chunks.take());
        let io = BackupError::io(&self.path, "write the backup archive");
        let file = match self.output {
            Output::Plain(w) => w,
            Output::Encrypted(w) => w.finish().map_err(&io)?,
        };
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(&io)?;
        let entries = self
            .indexer
            .join()
            .map_err(|_| BackupError::Archive(std::io::Error::other("indexer panicked")))??;
        Ok((entries, self.size))
    }
}

impl Write for ArchiveWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.output {
            Output::Plain(w) => w.write_all(buf)?,
            Output::Encrypted(w) => w.write_all(buf)?,
        }
        self.size += buf.len() as u64;
        // If the indexer stopped (a broken stream), it reports why at finish.
        if let Some(tx) = &self.chunks
            && tx.send(buf.to_vec()).is_err()
        {
            self.chunks = None;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.output {
            Output::Plain(w) => w.flush(),
            Output::Encrypted(w) => w.flush(),
        }
    }
}

/// The chunks sent by [`ArchiveWriter`], as one byte stream.
struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    fn new(rx: Receiver<Vec<u8>>) -> Self {
        ChunkReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => (self.chunk, self.at) = (chunk, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A blocking writer used from async code. Fine for a local file fed by
/// the network: each write is a memory copy or a short disk write.
pub struct BlockingWrite<W>(pub W);

impl<W: Write + Unpin> tokio::io::AsyncWrite for BlockingWrite<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.0.write(buf))
    }
    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
