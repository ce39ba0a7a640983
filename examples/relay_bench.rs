//! Throughput of the log relay against a plain pipe reader.
//!
//! ```sh
//! cargo run --release --example relay_bench -- [MiB=1024] [line bytes=100] [pipe|prefixed|json]
//! ```
//!
//! A producer thread plays a child writing fixed-size lines into a pipe. The
//! baseline reads that pipe in 64 KiB chunks and writes them to /dev/null (what
//! `dd bs=64k of=/dev/null` does, i.e. the child writing straight to a pipe);
//! the relays read it through `LogSink` (prefixed, then json) into /dev/null.
//! Printed: MB/s and CPU seconds per GB of the whole process and of the reading
//! side alone (the process minus the producer thread).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::resource::{getrusage, UsageWho};
use oxinit::api::logs::{Bounds, LogBook, LogSink, Stream, Style};

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map_or(1024, |a| a.parse().expect("MiB"));
    let line_len: usize = args.next().map_or(100, |a| a.parse().expect("line bytes"));
    let only = args.next();
    let total = mib << 20;

    println!("{mib} MiB of {line_len}-byte lines, one producer thread, reads of 64 KiB");
    println!(
        "{:<22} {:>9} {:>14} {:>16}",
        "reader", "MB/s", "CPU s/GB all", "CPU s/GB reader"
    );
    let runs = |name: &str| only.as_deref().is_none_or(|only| name.contains(only));
    let mut baseline = None;
    if runs("pipe → /dev/null") {
        baseline = Some(measure("pipe → /dev/null", total, line_len, |read_end| {
            let mut pipe = File::from(read_end);
            let mut null = dev_null();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = pipe.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                null.write_all(&buf[..n]).expect("write /dev/null");
            }
        }));
    }
    // "+ ring": as oxinit runs it, keeping every line for `oxinit logs`.
    for (name, style, via_pipe, keep) in [
        ("relay prefixed", Style::Prefixed { width: 8 }, false, false),
        (
            "relay prefixed + ring",
            Style::Prefixed { width: 8 },
            false,
            true,
        ),
        ("relay json", Style::Json, false, false),
        (
            "relay prefixed → pipe",
            Style::Prefixed { width: 8 },
            true,
            false,
        ),
    ] {
        if !runs(name) {
            continue;
        }
        let mbps = measure(name, total, line_len, |read_end| {
            // Either /dev/null, or a pipe drained by a thread like a log
            // driver: then the relay pays what a real oxinit pays to write.
            let (stdout, drain): (OwnedFd, _) = if via_pipe {
                let (log_read, log_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
                (
                    log_write,
                    Some(thread::spawn(move || drain_to_null(log_read))),
                )
            } else {
                (dev_null().into(), None)
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let sink = match keep {
                    true => {
                        let book = LogBook::new([("api".to_string(), Bounds::default())], true);
                        LogSink::to_writers_keeping(style, stdout, dev_null(), book)
                    }
                    false => LogSink::to_writers(style, stdout, dev_null()),
                }
                .expect("sink");
                let stats = sink
                    .relay("api", Stream::Stdout, read_end)
                    .await
                    .expect("relay task");
                sink.flush().await;
                assert_eq!(stats.bytes as usize, total);
            });
            if let Some(drain) = drain {
                drain.join().expect("drain");
            }
        });
        if let Some(baseline) = baseline {
            println!("{:<22} {:>8.0}%", "  of baseline", 100.0 * mbps / baseline);
        }
    }
}

/// Reads `read_end` in 64 KiB chunks into /dev/null until EOF, like
/// `dd bs=64k of=/dev/null`.
fn drain_to_null(read_end: OwnedFd) {
    let mut pipe = File::from(read_end);
    let mut null = dev_null();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = pipe.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        null.write_all(&buf[..n]).expect("write /dev/null");
    }
}

fn dev_null() -> File {
    OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null")
}

/// Runs `reader` on a pipe fed with `total` bytes of lines; prints and returns MB/s.
fn measure(name: &str, total: usize, line_len: usize, reader: impl FnOnce(OwnedFd)) -> f64 {
    let mut line = vec![b'x'; line_len - 1];
    line.push(b'\n');
    let block = line.repeat((64 * 1024 / line_len).max(1));

    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
    let cpu_before = cpu(UsageWho::RUSAGE_SELF);
    let started = Instant::now();
    let producer = thread::spawn(move || {
        let mut pipe = File::from(write_end);
        let mut left = total;
        while left > 0 {
            let n = left.min(block.len());
            pipe.write_all(&block[..n]).expect("producer write");
            left -= n;
        }
        drop(pipe);
        cpu(UsageWho::RUSAGE_THREAD)
    });
    reader(read_end);
    let producer_cpu = producer.join().expect("producer");
    let wall = started.elapsed();
    let cpu_all = cpu(UsageWho::RUSAGE_SELF) - cpu_before;

    let gb = total as f64 / 1e9;
    let mbps = total as f64 / 1e6 / wall.as_secs_f64();
    println!(
        "{name:<22} {mbps:>9.0} {:>14.3} {:>16.3}",
        cpu_all.as_secs_f64() / gb,
        (cpu_all.saturating_sub(producer_cpu)).as_secs_f64() / gb,
    );
    mbps
}

fn cpu(who: UsageWho) -> Duration {
    let usage = getrusage(who).expect("getrusage");
    let time =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    time(usage.user_time()) + time(usage.system_time())
}
