//! `switchyard`: thin; parses the command line and calls into the library.

use std::process::ExitCode;

use switchyard::cli::Command;
use switchyard::config::Settings;

// jemalloc, not glibc's malloc: glibc keeps a heap that grew under churn, jemalloc gives it
// back. A background thread purges pages unused for a second, so an idle node shrinks too.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options at start from this symbol, a `const char *`.
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    // SAFETY: a pointer to the first byte of a static C string, read as such by jemalloc.
    Some(unsafe { &*c"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr() });

/// jemalloc's counters of allocated and resident bytes, refreshed for each reading.
#[cfg(feature = "jemalloc")]
fn jemalloc_figures() -> Option<switchyard::heap::HeapFigures> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(switchyard::heap::HeapFigures {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

/// Hands this thread's jemalloc cache back to the arenas. A tokio worker does it whenever it
/// runs out of work: a worker that went idle after a surge would otherwise keep the freed objects
/// of its cache, and with them their pages, resident for good (nothing flushes the cache of a
/// thread that does not allocate).
#[cfg(feature = "jemalloc")]
fn flush_thread_cache() {
    // SAFETY: "thread.tcache.flush" takes and returns nothing: both pointers null, length 0.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

fn main() -> ExitCode {
    #[cfg(feature = "jemalloc")]
    switchyard::heap::set_probe(jemalloc_figures);
    // Not Cli::parse(): the help states the defaults only as cli::command() builds it.
    let cli = switchyard::cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = match Settings::load(&args) {
                Ok(settings) => settings,
                Err(error) => return refuse(&error),
            };
            switchyard::logging::init(settings.log_format);
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.enable_all();
            #[cfg(feature = "jemalloc")]
            runtime.on_thread_park(flush_thread_cache);
            let runtime = match runtime.build() {
                Ok(runtime) => runtime,
                Err(error) => return refuse(&error),
            };
            match runtime.block_on(switchyard::serve::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => refuse(&error),
            }
        }
        Command::Token(args) => match switchyard::auth::token::run(&args) {
            Ok(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            Err(error) => refuse(&error),
        },
        Command::Loadgen(args) => {
            let credentials = switchyard::auth::LoadgenCredentials;
            ExitCode::from(switchyard_loadgen::command(&args, &credentials))
        }
    }
}

/// One clear line and status 2.
fn refuse(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("switchyard: {error}");
    ExitCode::from(2)
}
