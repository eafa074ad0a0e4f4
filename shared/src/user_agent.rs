//! Classifying a `User-Agent` into agent kind and device class, so the raw
//! string never has to leave the edge.

use crate::tap::{AgentKind, DeviceClass};

/// Only this many leading bytes of a user agent are examined (they are unbounded).
const MAX_EXAMINED: usize = 512;

/// Link-preview fetchers: a link pasted into a chat is fetched by these, not by a person.
const PREVIEWERS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "whatsapp",
    "facebookexternalhit", // also iMessage's previewer
    "facebot",
    "twitterbot",
    "discordbot",
    "telegrambot",
    "linkedinbot",
    "skypeuripreview",
    "bingpreview",
    "google-pagerenderer",
    "googleother",
    "pinterestbot",
    "redditbot",
    "snapchat",
    "viber",
    "mastodon",
    "embedly",
    "iframely",
    "vkshare",
    "microsoftpreview",
    "teams",
    "applebot",
    "line-poker",
    "kakaotalk-scrap",
];

/// Crawlers, monitors and scripts.
const BOTS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "curl/",
    "wget/",
    "httpie",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "headlesschrome",
    "phantomjs",
    "node-fetch",
    "axios/",
    "undici",
    "scrapy",
    "monitor",
    "uptime",
    "pingdom",
    "lighthouse",
    "postman",
];

/// Classifies a user agent (absent or empty counts as a bot: every browser sends one).
pub fn classify(user_agent: Option<&str>) -> (AgentKind, DeviceClass) {
    let raw = user_agent.unwrap_or("").trim();
    if raw.is_empty() {
        return (AgentKind::Bot, DeviceClass::Other);
    }
    let mut end = raw.len().min(MAX_EXAMINED);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    let ua = raw[..end].to_ascii_lowercase();
    let device = if contains(&ua, "iphone") || contains(&ua, "ipad") || contains(&ua, "ipod") {
        DeviceClass::Ios
    } else if contains(&ua, "android") {
        DeviceClass::Android
    } else {
        DeviceClass::Other
    };
    let agent = if PREVIEWERS.iter().any(|p| contains(&ua, p)) {
        AgentKind::Previewer
    } else if BOTS.iter().any(|b| contains(&ua, b)) {
        AgentKind::Bot
    } else {
        AgentKind::Human
    };
    (agent, device)
}

/// Substring test by plain window comparison: for ~50 short needles over a
/// few hundred bytes this beats `str::contains`, whose two-way searcher is
/// rebuilt for every needle (measured on the edge's tap path).
fn contains(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    match n.first() {
        None => true,
        Some(&first) => h.windows(n.len()).any(|w| w.first() == Some(&first) && w == n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
    const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";

    #[test]
    fn phones_are_humans_with_a_device_class() {
        assert_eq!(classify(Some(IPHONE)), (AgentKind::Human, DeviceClass::Ios));
        assert_eq!(classify(Some(ANDROID)), (AgentKind::Human, DeviceClass::Android));
        assert_eq!(classify(Some(DESKTOP)), (AgentKind::Human, DeviceClass::Other));
    }

    #[test]
    fn previewers_are_flagged() {
        for ua in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "WhatsApp/2.23.20.0 A",
            "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "Twitterbot/1.0",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "TelegramBot (like TwitterBot)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 (compatible; Google-PageRenderer Google (+https://developers.google.com/+/web/snippet/))",
            "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
        ] {
            assert_eq!(classify(Some(ua)).0, AgentKind::Previewer, "{ua}");
        }
    }

    #[test]
    fn bots_and_scripts_are_flagged() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "curl/8.5.0",
            "python-requests/2.31",
            "Go-http-client/1.1",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
        ] {
            assert_eq!(classify(Some(ua)).0, AgentKind::Bot, "{ua}");
        }
        assert_eq!(classify(None), (AgentKind::Bot, DeviceClass::Other));
        assert_eq!(classify(Some("   ")), (AgentKind::Bot, DeviceClass::Other));
    }

    #[test]
    fn contains_agrees_with_std() {
        for (h, n) in
            [("abc", ""), ("abc", "abc"), ("abc", "abcd"), ("xxbotxx", "bot"), ("bo", "bot"), ("", "a")]
        {
            assert_eq!(contains(h, n), h.contains(n), "{h:?} {n:?}");
        }
    }

    #[test]
    fn huge_and_unicode_agents_are_safe() {
        let huge = format!("{}{}", "é".repeat(400), "curl/1");
        assert_eq!(classify(Some(&huge)).0, AgentKind::Human, "only the first bytes are examined");
        let _ = classify(Some(&"\u{1F600}".repeat(10_000)));
    }
}
