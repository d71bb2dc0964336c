//! Headless Chromium for the web UI's browser test: Debian's chromedriver started on a
//! free loopback port, and a WebDriver session on it through fantoccini (over plain HTTP:
//! the test build has no TLS stack for it). What this adds to fantoccini is what the
//! test needs around it: every wait bounded, failures that name the page, and the
//! driver process ended with the browser.

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long an element, a dialog or a navigation is waited for.
const WAIT: Duration = Duration::from_secs(10);

/// The Debian paths of Chromium and its driver (`scripts/test` installs both).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and one headless browser session; the driver ends when dropped.
pub struct Browser {
    driver: Child,
    client: Client,
}

impl Browser {
    /// `None` when Chromium or chromedriver is not installed.
    pub async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists() {
            return None;
        }
        let port = crate::harness::free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() >= deadline {
                let _ = driver.kill();
                panic!("chromedriver did not listen within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--no-proxy-server", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let connected = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let client = match connected {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                panic!("a WebDriver session on chromedriver: {e}");
            }
        };
        Some(Browser { driver, client })
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("the page's source")
    }

    /// The visible text of the page. A page still loading (after a click or a form's
    /// submission) can replace its body between finding it and reading it: then the
    /// new body is read, up to a few times.
    pub async fn text(&self) -> String {
        let mut tries = 0;
        loop {
            match self.find("body").await.text().await {
                Ok(text) => return text,
                Err(_) if tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the page's text: {e}"),
            }
        }
    }

    /// The first element `css` selects, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no element {css:?} on {}: {e}", self.url().await),
        }
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element.click().await.unwrap_or_else(|e| panic!("click {css:?}: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.clear().await.expect("clear the field");
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css:?}: {e}"));
    }

    /// Accepts the `window.confirm` dialog the page opened (waiting up to 10 s for it);
    /// its text.
    pub async fn accept_dialog(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(text) = self.client.get_alert_text().await {
                self.client.accept_alert().await.expect("accept the dialog");
                return text;
            }
            assert!(Instant::now() < deadline, "no dialog opened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's address contains `part` (a navigation finished).
    pub async fn wait_for_url(&self, part: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.url().await.contains(part) {
            assert!(
                Instant::now() < deadline,
                "still on {} (waited for {part:?})",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of the cookie `name` of the current page (HttpOnly ones too: the
    /// driver reads the browser's store, as a person copying it out would).
    pub async fn cookie(&self, name: &str) -> String {
        let cookie = self
            .client
            .get_named_cookie(name)
            .await
            .unwrap_or_else(|e| panic!("no cookie {name}: {e}"));
        cookie.value().to_string()
    }

    /// A PNG of the window.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(path, png).unwrap();
    }

    /// Ends the session (chromedriver closes the browser).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
