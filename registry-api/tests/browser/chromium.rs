//! Headless Chromium, started afresh for each page: the DOM it serialises once the page's scripts
//! ran (`--dump-dom`), and screenshots kept under `$CARGO_TARGET_DIR/registry-screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Per Chromium run: a cold start takes a second or two, a loaded CI machine much longer.
pub(super) const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
const WINDOW: (u32, u32) = (1280, 2000);
/// A 1280×2000 screenshot of a page with a little text is about 25 KB; a blank one about 12 KB.
const MIN_SCREENSHOT_BYTES: u64 = 15_000;

pub struct Browser {
    pub(super) program: PathBuf,
    /// A fresh profile per run, deleted with the test.
    pub(super) profiles: tempfile::TempDir,
    pub(super) runs: AtomicU32,
}

impl Browser {
    /// Chromium, or `None` (after a note) when MPR_SKIP_BROWSER=1; panics when it is missing.
    pub fn find() -> Option<Browser> {
        if std::env::var("MPR_SKIP_BROWSER").is_ok_and(|skip| skip == "1") {
            eprintln!("note: MPR_SKIP_BROWSER=1: the pages are not tested in a browser");
            return None;
        }
        let program = match std::env::var_os("MPR_CHROMIUM") {
            Some(program) => PathBuf::from(program),
            None => ["chromium", "chromium-browser"].into_iter().find_map(on_path).unwrap_or_else(|| {
                panic!(
                    "Chromium is not installed, and the pages are tested in it: `apt-get install chromium` \
                     (or set MPR_CHROMIUM to a Chromium binary, or MPR_SKIP_BROWSER=1 to skip these tests)"
                )
            }),
        };
        let profiles = tempfile::Builder::new()
            .prefix("mpr-chromium-")
            .tempdir()
            .expect("temp dir for Chromium profiles");
        Some(Browser {
            program,
            profiles,
            runs: AtomicU32::new(0),
        })
    }

    pub(super) fn command(&self) -> tokio::process::Command {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let profile = self.profiles.path().join(format!("profile-{run}"));
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("--headless=new")
            // Chromium's sandbox cannot start as root (CI containers) nor without user namespaces;
            // the pages come from the test's own server on a loopback port.
            .arg("--no-sandbox")
            .args([
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
            ])
            .args([
                "--disable-background-networking",
                "--disable-extensions",
                "--disable-component-update",
            ])
            .args([
                "--hide-scrollbars",
                "--mute-audio",
                "--force-device-scale-factor=1",
            ])
            .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, so that a timeout ends the renderers too.
            .process_group(0);
        command
    }

    /// Runs Chromium to completion and returns its output; panics when it fails or hangs.
    async fn run(&self, what: &str, args: &[String]) -> Output {
        let mut command = self.command();
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().unwrap_or_else(|error| {
            panic!("starting {} for {what}: {error}", self.program.display())
        });
        let group = ProcessGroup::of(&child);
        let started = Instant::now();
        let output = tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("Chromium did not finish {what} within {BROWSER_TIMEOUT:?}"))
            .unwrap_or_else(|error| panic!("waiting for Chromium ({what}): {error}"));
        group.exited();
        assert!(
            output.status.success(),
            "Chromium failed {what} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "chromium: {what} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        output
    }

    /// The page's DOM as Chromium serialises it once the page has loaded and its scripts ran.
    pub async fn dom(&self, url: &str) -> String {
        let output = self
            .run(
                &format!("dumping the DOM of {url}"),
                &["--dump-dom".to_owned(), url.to_owned()],
            )
            .await;
        let dom = String::from_utf8(output.stdout).expect("the DOM is UTF-8");
        assert!(
            dom.contains("<main>"),
            "Chromium dumped no page for {url}: {dom}"
        );
        dom
    }

    /// Saves a screenshot of the page as `<name>.png` and checks it is a real picture of the window.
    pub async fn screenshot(&self, url: &str, name: &str) -> PathBuf {
        let directory = screenshot_dir();
        std::fs::create_dir_all(&directory)
            .unwrap_or_else(|error| panic!("creating {}: {error}", directory.display()));
        let path = directory.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&path);
        self.run(
            &format!("taking a screenshot of {url}"),
            &[format!("--screenshot={}", path.display()), url.to_owned()],
        )
        .await;
        let png = std::fs::read(&path).unwrap_or_else(|error| {
            panic!("Chromium wrote no screenshot {}: {error}", path.display())
        });
        assert_eq!(
            png_size(&png),
            Some(WINDOW),
            "{} is a PNG of the window",
            path.display()
        );
        assert!(
            png.len() as u64 > MIN_SCREENSHOT_BYTES,
            "{} has only {} bytes: a blank page?",
            path.display(),
            png.len()
        );
        eprintln!("screenshot: {} ({} KB)", path.display(), png.len() / 1024);
        path
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|directory| directory.join(name))
        .find(|path| {
            path.metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// `$CARGO_TARGET_DIR/registry-screenshots`, or next to the test binary's `target/<profile>/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("test binary path");
            // target/debug/deps/web_pages-<hash>
            exe.ancestors()
                .nth(3)
                .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        });
    target.join("registry-screenshots")
}

/// Width and height from a PNG's IHDR chunk, when `png` starts like a PNG.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let rest = png.strip_prefix(SIGNATURE)?;
    // The first chunk: length 13, type IHDR, width, height (big-endian), ...
    if rest.get(..8)? != b"\0\0\0\x0dIHDR" {
        return None;
    }
    let number = |at: usize| Some(u32::from_be_bytes(rest.get(at..at + 4)?.try_into().ok()?));
    Some((number(8)?, number(12)?))
}

/// A child's process group (its id is the child's), killed unless the child exited normally.
pub(super) struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    pub(super) fn of(child: &tokio::process::Child) -> ProcessGroup {
        ProcessGroup(child.id().and_then(|id| i32::try_from(id).ok()))
    }

    pub(super) fn exited(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // SAFETY: a signal to the process group this test started; no memory is involved.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
}
