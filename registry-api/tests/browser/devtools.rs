//! Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`), for what a
//! dumped DOM cannot show: clicks, and the clipboard.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::chromium::{Browser, ProcessGroup, BROWSER_TIMEOUT};

impl Browser {
    /// Runs `session` against a Chromium driven over the DevTools protocol on a pipe (fd 3 to
    /// Chromium, fd 4 from it), then closes the browser.
    pub async fn devtools(&self, what: &str, session: impl FnOnce(&mut Devtools) + Send + 'static) {
        let (to_browser_read, to_browser_write) = pipe();
        let (from_browser_read, from_browser_write) = pipe();
        let (child_in, child_out) = (to_browser_read.as_raw_fd(), from_browser_write.as_raw_fd());
        let log_path = self.profiles.path().join(format!(
            "devtools-{}.log",
            self.runs.load(Ordering::Relaxed)
        ));
        let log_file = std::fs::File::create(&log_path).expect("Chromium's log file");
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        let mut command = self.command();
        command
            .args(["--remote-debugging-pipe", "about:blank"])
            .stdout(Stdio::null())
            .stderr(log_file);
        // SAFETY: between fork and exec, only async-signal-safe calls on the child's own
        // descriptors. The pipe ends are first copied above 9 so that moving one to 3 cannot
        // overwrite the other; the copies on 3 and 4 are the only ones without close-on-exec.
        unsafe {
            command.pre_exec(move || {
                let to_browser = libc::fcntl(child_in, libc::F_DUPFD_CLOEXEC, 10);
                let from_browser = libc::fcntl(child_out, libc::F_DUPFD_CLOEXEC, 10);
                if to_browser == -1
                    || from_browser == -1
                    || libc::dup2(to_browser, 3) == -1
                    || libc::dup2(from_browser, 4) == -1
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().unwrap_or_else(|error| {
            panic!("starting {} for {what}: {error}", self.program.display())
        });
        let group = ProcessGroup::of(&child);
        drop((to_browser_read, from_browser_write));
        let started = Instant::now();
        let mut devtools = Devtools {
            to: std::fs::File::from(to_browser_write),
            from: BufReader::new(std::fs::File::from(from_browser_read)),
            next_id: 0,
        };
        let conversation = tokio::task::spawn_blocking(move || {
            session(&mut devtools);
            // Chromium may close the pipe before it answers.
            devtools.send(None, "Browser.close", json!({}));
        });
        match tokio::time::timeout(BROWSER_TIMEOUT, conversation).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                eprintln!("Chromium's output:\n{}", log());
                std::panic::resume_unwind(error.into_panic())
            }
            Err(_) => panic!(
                "Chromium did not finish {what} within {BROWSER_TIMEOUT:?}: {}",
                log()
            ),
        }
        let status = tokio::time::timeout(BROWSER_TIMEOUT, child.wait())
            .await
            .unwrap_or_else(|_| panic!("Chromium did not close after {what}"))
            .expect("wait for Chromium");
        group.exited();
        assert!(
            status.success(),
            "Chromium failed {what}: {status}: {}",
            log()
        );
        eprintln!(
            "chromium: {what} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array, which we then own.
    let result = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(result, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// The Chrome DevTools protocol over `--remote-debugging-pipe`: JSON messages ended by NUL.
/// Blocking; run on a blocking thread.
pub struct Devtools {
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next_id: u64,
}

impl Devtools {
    /// Sends a command (to the page `session`, or to the browser) and returns its result;
    /// events in between are ignored.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.send(session, method, params);
        loop {
            let mut reply = Vec::new();
            let read = self
                .from
                .read_until(0, &mut reply)
                .unwrap_or_else(|error| panic!("reading from Chromium: {error}"));
            assert!(
                read > 0 && reply.pop() == Some(0),
                "Chromium closed the DevTools pipe while {method} was pending"
            );
            let reply: Value = serde_json::from_slice(&reply).expect("DevTools message is JSON");
            if reply["id"] == id {
                assert!(
                    reply.get("error").is_none(),
                    "{method} failed: {}",
                    reply["error"]
                );
                return reply["result"].clone();
            }
        }
    }

    /// Sends a command without waiting for its result; returns its id.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut message = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON");
        bytes.push(0);
        self.to
            .write_all(&bytes)
            .unwrap_or_else(|error| panic!("sending {method} to Chromium: {error}"));
        self.next_id
    }

    /// Opens `url` in a new page with clipboard access for `origin`, waits until it has loaded
    /// and returns the page's session.
    pub fn open(&mut self, origin: &str, url: &str) -> String {
        let page = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": page["targetId"], "flatten": true}),
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_owned();
        self.call(
            None,
            "Browser.grantPermissions",
            json!({"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        );
        // A headless page never has the focus that the clipboard API wants.
        self.call(
            Some(&session),
            "Emulation.setFocusEmulationEnabled",
            json!({"enabled": true}),
        );
        let navigated = self.call(Some(&session), "Page.navigate", json!({"url": url}));
        assert!(
            navigated.get("errorText").is_none(),
            "loading {url}: {navigated}"
        );
        self.wait_for(&session, "document.readyState", |state| state == "complete");
        session
    }

    /// The value of a JavaScript expression in the page, awaited when it is a promise.
    pub fn evaluate(&mut self, session: &str, expression: &str) -> Value {
        let result = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it gives a string that `done` accepts (or 10 s pass) and
    /// returns the last value.
    pub fn wait_for(
        &mut self,
        session: &str,
        expression: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.evaluate(session, expression);
            let value = value.as_str().unwrap_or_default().to_owned();
            if done(&value) || Instant::now() > deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
