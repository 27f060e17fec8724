//! Guest stdout/stderr: each line goes to the host terminal prefixed with the component
//! id, and unprefixed to `<state-dir>/logs/<component>_<stream>.txt`. A log file that
//! reaches its size cap is rotated to `….txt.1` (replacing the previous one), so a guest
//! printing forever uses at most twice the cap per stream.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Which host stream a guest stream is mirrored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

/// One component's output stream, shared by all its instances.
#[derive(Clone)]
pub struct GuestOutput {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    stream: Stream,
    file: Option<Mutex<LogFile>>,
}

/// A size-capped, rotating log file.
struct LogFile {
    file: File,
    path: PathBuf,
    written: u64,
    cap: u64,
}

impl LogFile {
    fn open(path: PathBuf, cap: u64) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            file,
            path,
            written,
            cap,
        })
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.written > 0 && self.written + buf.len() as u64 > self.cap {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            std::fs::rename(&self.path, rotated)?;
            *self = Self::open(self.path.clone(), self.cap)?;
        }
        // A single write larger than the cap is cut, so no file ever exceeds it.
        let keep = buf
            .len()
            .min(usize::try_from(self.cap).unwrap_or(usize::MAX));
        self.file.write_all(&buf[..keep])?;
        self.written += keep as u64;
        Ok(())
    }
}

impl GuestOutput {
    /// Output of component `id` on `stream`, logged under `log_dir` when given, each log
    /// file capped at `log_cap` bytes.
    pub fn new(
        id: &str,
        stream: Stream,
        log_dir: Option<&Path>,
        log_cap: u64,
    ) -> std::io::Result<Self> {
        let file = match log_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let name = match stream {
                    Stream::Stdout => format!("{id}_stdout.txt"),
                    Stream::Stderr => format!("{id}_stderr.txt"),
                };
                Some(Mutex::new(LogFile::open(dir.join(name), log_cap.max(1))?))
            }
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                prefix: format!("[{id}] "),
                stream,
                file,
            }),
        })
    }

    fn write(&self, at_line_start: &mut bool, buf: &[u8]) {
        if let Some(file) = &self.inner.file
            && let Ok(mut f) = file.lock()
        {
            // Losing guest log lines to a full disk must not fail the guest's request.
            let _ = f.write(buf);
        }
        let mut prefixed = Vec::with_capacity(buf.len() + self.inner.prefix.len());
        for chunk in buf.split_inclusive(|b| *b == b'\n') {
            if *at_line_start {
                prefixed.extend_from_slice(self.inner.prefix.as_bytes());
            }
            prefixed.extend_from_slice(chunk);
            *at_line_start = chunk.ends_with(b"\n");
        }
        let _ = match self.inner.stream {
            Stream::Stdout => std::io::stdout().lock().write_all(&prefixed),
            Stream::Stderr => std::io::stderr().lock().write_all(&prefixed),
        };
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(GuestWriter {
            output: self.clone(),
            at_line_start: true,
        })
    }
}

/// One instance's handle on a [`GuestOutput`]; tracks where its own lines start.
struct GuestWriter {
    output: GuestOutput,
    at_line_start: bool,
}

impl AsyncWrite for GuestWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        this.output.write(&mut this.at_line_start, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
