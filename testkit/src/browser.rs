//! Headless Chromium for the page tests: the DOM after scripts ran, every
//! console line, and screenshots.

use std::path::Path;
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// What the browser saw: the DOM after scripts ran, and every console line.
pub struct Page {
    pub dom: String,
    pub console: Vec<String>,
}

pub fn chromium_args(profile: &Path) -> Vec<String> {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing; scripts/bootstrap installs it");
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

pub fn open(page: &Path) -> Page {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60", CHROMIUM])
        .args(chromium_args(profile.path()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let console =
        String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    Page { dom: String::from_utf8_lossy(&out.stdout).into_owned(), console }
}

pub fn screenshot(page: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60", CHROMIUM])
        .args(chromium_args(profile.path()))
        .arg("--window-size=1200,2400")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap();
    assert!(out.status.success() && png.is_file(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
}

/// Asserts a clean render: no console line, our render marker set, and no
/// script error recorded.
pub fn assert_clean(p: &Page, what: &str) {
    assert!(p.console.is_empty(), "{what}: console output: {:?}", p.console);
    assert!(p.dom.contains(r#"data-rendered="ok""#), "{what}: the page's script did not finish");
    assert!(!p.dom.contains("data-errors"), "{what}: a script error was recorded");
}
