//! A browser-like client for the management API: keeps the session cookie
//! and CSRF token, and sends our own `Origin` on every request.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::http;

/// One user agent talking to the origin.
#[derive(Clone)]
pub struct ApiClient {
    /// Origin base URL.
    pub base: String,
    /// `name=value` of the session cookie, once signed in.
    pub cookie: Option<String>,
    /// The session's CSRF token.
    pub csrf: Option<String>,
    client: reqwest::Client,
}

/// A response, read.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Body as JSON (`Null` if not JSON).
    pub json: Value,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as text.
    pub text: String,
}

impl Answer {
    /// `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// The `Location` of a redirect.
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
}

impl ApiClient {
    /// A client without a session.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            cookie: None,
            csrf: None,
            client: http::client(),
        }
    }

    /// Sends `name: value` with every later request (e.g. `X-Forwarded-For` behind a trusted proxy).
    pub fn extra_header(&mut self, name: &'static str, value: &str) {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(v) = reqwest::header::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
        self.client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(20))
            .default_headers(headers)
            .build()
            .expect("reqwest client");
    }

    /// Sends a request; JSON body when `body` is not `Null`.
    pub async fn send(&self, method: Method, path: &str, body: Value) -> Answer {
        let mut req =
            self.client.request(method, format!("{}{path}", self.base)).header("origin", &self.base);
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        if let Some(csrf) = &self.csrf {
            req = req.header("x-csrf-token", csrf);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        Self::read(resp).await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req =
            self.client.request(method, format!("{}{path}", self.base)).header("origin", &self.base);
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        req
    }

    /// Posts an HTML form as a browser does: urlencoded, the CSRF token as a field.
    pub async fn send_form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        if let Some(csrf) = &self.csrf {
            form.append_pair("csrf_token", csrf);
        }
        for (k, v) in fields {
            form.append_pair(k, v);
        }
        let req = self
            .request(Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish());
        Self::read(req.send().await.expect("request")).await
    }

    /// Posts a multipart form as a browser does: the CSRF token first, then `file`.
    pub async fn send_upload(&self, path: &str, file_name: &str, file: &[u8]) -> Answer {
        let boundary = format!("----sparkmotion{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::with_capacity(file.len() + 512);
        if let Some(csrf) = &self.csrf {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let req = self
            .request(Method::POST, path)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        Self::read(req.send().await.expect("request")).await
    }

    /// Reads a response.
    pub async fn read(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Answer { status, json: serde_json::from_str(&text).unwrap_or(Value::Null), headers, text }
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, Value::Null).await
    }

    /// `POST` with JSON.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, body).await
    }

    /// `PATCH` with JSON.
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, body).await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, Value::Null).await
    }

    /// Signs in; keeps the cookie and CSRF token on success.
    pub async fn login(&mut self, email: &str, password: &str) -> Answer {
        let answer = self.post("/api/v1/auth/login", json!({ "email": email, "password": password })).await;
        if answer.status == StatusCode::OK {
            self.adopt(&answer);
        }
        answer
    }

    /// Takes the session cookie and CSRF token from an answer that set them.
    pub fn adopt(&mut self, answer: &Answer) {
        if let Some(cookie) = set_cookie(&answer.headers) {
            self.cookie = Some(cookie);
        }
        if let Some(csrf) = answer.json["csrf_token"].as_str() {
            self.csrf = Some(csrf.to_string());
        }
    }
}

/// The `name=value` part of the session `Set-Cookie`, if any.
pub fn set_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("sm_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

impl ApiClient {
    /// Enrols TOTP for the signed-in user, confirming with the code for Unix time `t`;
    /// returns the secret and the recovery codes.
    pub async fn enrol_mfa(&mut self, t: i64) -> (Vec<u8>, Vec<String>) {
        let enrol = self.post("/api/v1/me/mfa/enrol", Value::Null).await;
        assert_eq!(enrol.status, StatusCode::OK, "enrol: {:?}", enrol.json);
        let secret = crate::totp::base32_decode(enrol.json["secret_base32"].as_str().expect("secret"));
        let confirm =
            self.post("/api/v1/me/mfa/confirm", json!({ "code": crate::totp::code_at(&secret, t) })).await;
        assert_eq!(confirm.status, StatusCode::OK, "confirm: {:?}", confirm.json);
        let codes = confirm.json["recovery_codes"]
            .as_array()
            .expect("codes")
            .iter()
            .map(|c| c.as_str().unwrap_or_default().to_string())
            .collect();
        (secret, codes)
    }

    /// Signs in with password, then the TOTP code for Unix time `t`.
    pub async fn login_mfa(&mut self, email: &str, password: &str, secret: &[u8], t: i64) -> Answer {
        let first = self.login(email, password).await;
        if first.status != StatusCode::OK || first.json["stage"] != "mfa_pending" {
            return first;
        }
        let second = self.post("/api/v1/auth/mfa", json!({ "code": crate::totp::code_at(secret, t) })).await;
        if second.status == StatusCode::OK {
            self.adopt(&second);
        }
        second
    }

    /// Proves the second factor again (step-up) with the code for Unix time `t`.
    pub async fn step_up(&self, secret: &[u8], t: i64) -> Answer {
        self.post("/api/v1/auth/step-up", json!({ "code": crate::totp::code_at(secret, t) })).await
    }
}
