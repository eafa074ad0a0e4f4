//! Classifying a `User-Agent` into agent kind and device class, so the raw
//! string never has to leave the edge.

use crate::tap::{AgentKind, DeviceClass};

/// Only this many leading bytes of a user agent are examined (they are unbounded).
const MAX_EXAMINED: usize = 512;

/// What a needle found in a user agent says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    /// A link-preview fetcher: a link pasted into a chat is fetched by these, not by a person.
    Previewer,
    /// A crawler, monitor or script.
    Bot,
    /// An Apple phone or tablet.
    Ios,
    /// An Android device.
    Android,
}

use Sign::{Android, Bot, Ios, Previewer};

/// Every needle (lower case), **grouped by first byte** so a scan position
/// only compares the few needles starting with its byte (checked by a test).
/// Previewers are named by their fetcher's own token, never by an app name
/// alone: in-app browsers (Snapchat, Teams, …) carry the app's name too, and
/// a person tapping in one is a person.
const NEEDLES: &[(&str, Sign)] = &[
    ("android", Android),
    ("applebot", Previewer),
    ("aiohttp", Bot),
    ("axios/", Bot),
    ("bingpreview", Previewer),
    ("bot", Bot),
    ("crawl", Bot),
    ("curl/", Bot),
    ("discordbot", Previewer),
    ("embedly", Previewer),
    ("facebookexternalhit", Previewer), // also iMessage's previewer
    ("facebot", Previewer),
    ("google-pagerenderer", Previewer),
    ("googleother", Previewer),
    ("go-http-client", Bot),
    ("headlesschrome", Bot),
    ("httpie", Bot),
    ("iphone", Ios),
    ("ipad", Ios),
    ("ipod", Ios),
    ("iframely", Previewer),
    ("java/", Bot),
    ("kakaotalk-scrap", Previewer),
    ("linkedinbot", Previewer),
    ("line-poker", Previewer),
    ("libwww", Bot),
    ("lighthouse", Bot),
    ("mastodon", Previewer),
    ("microsoftpreview", Previewer),
    ("monitor", Bot),
    ("node-fetch", Bot),
    ("okhttp", Bot),
    ("pinterestbot", Previewer),
    ("python-requests", Bot),
    ("python-urllib", Bot),
    ("phantomjs", Bot),
    ("pingdom", Bot),
    ("postman", Bot),
    ("redditbot", Previewer),
    ("slackbot", Previewer),
    ("slack-imgproxy", Previewer),
    ("skypeuripreview", Previewer), // also Microsoft Teams' previewer
    ("snap url preview", Previewer),
    ("spider", Bot),
    ("slurp", Bot),
    ("scrapy", Bot),
    ("twitterbot", Previewer),
    ("telegrambot", Previewer),
    ("undici", Bot),
    ("uptime", Bot),
    ("viber", Previewer),
    ("vkshare", Previewer),
    ("whatsapp", Previewer),
    ("wget/", Bot),
];

/// For each byte, the range of [`NEEDLES`] starting with it.
const BY_FIRST_BYTE: [(u8, u8); 256] = {
    let mut table = [(0u8, 0u8); 256];
    let mut i = 0;
    while i < NEEDLES.len() {
        let first = NEEDLES[i].0.as_bytes()[0] as usize;
        if table[first].1 == 0 {
            table[first] = (i as u8, i as u8 + 1);
        } else {
            table[first].1 = i as u8 + 1;
        }
        i += 1;
    }
    table
};

/// Classifies a user agent (absent or empty counts as a bot: every browser sends one).
///
/// One pass over the (lower-cased) first [`MAX_EXAMINED`] bytes; at each
/// position only the needles starting with that byte are compared. On the
/// edge this runs for every tap, where testing ~55 needles one after another
/// cost more than the rest of the request's Rust code.
pub fn classify(user_agent: Option<&str>) -> (AgentKind, DeviceClass) {
    let raw = user_agent.unwrap_or("").trim().as_bytes();
    if raw.is_empty() {
        return (AgentKind::Bot, DeviceClass::Other);
    }
    let mut buf = [0u8; MAX_EXAMINED];
    let len = raw.len().min(MAX_EXAMINED);
    let ua = &mut buf[..len];
    ua.copy_from_slice(&raw[..len]);
    ua.make_ascii_lowercase();
    let (mut previewer, mut bot, mut ios, mut android) = (false, false, false, false);
    for at in 0..ua.len() {
        let rest = &ua[at..];
        let (from, to) = BY_FIRST_BYTE[usize::from(rest[0])];
        for (needle, sign) in &NEEDLES[usize::from(from)..usize::from(to)] {
            if rest.starts_with(needle.as_bytes()) {
                match sign {
                    Previewer => previewer = true,
                    Bot => bot = true,
                    Ios => ios = true,
                    Android => android = true,
                }
            }
        }
    }
    let device = if ios {
        DeviceClass::Ios
    } else if android {
        DeviceClass::Android
    } else {
        DeviceClass::Other
    };
    let agent = if previewer {
        AgentKind::Previewer
    } else if bot {
        AgentKind::Bot
    } else {
        AgentKind::Human
    };
    (agent, device)
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

    /// The definition the fast scan must agree with: any needle anywhere.
    fn naive(user_agent: &str) -> (AgentKind, DeviceClass) {
        let mut end = user_agent.trim().len().min(MAX_EXAMINED);
        let trimmed = user_agent.trim();
        while !trimmed.is_char_boundary(end) {
            end -= 1;
        }
        let ua = trimmed[..end].to_ascii_lowercase();
        if ua.is_empty() {
            return (AgentKind::Bot, DeviceClass::Other);
        }
        let any = |sign: Sign| NEEDLES.iter().any(|(n, s)| *s == sign && ua.contains(n));
        let device = if any(Ios) {
            DeviceClass::Ios
        } else if any(Android) {
            DeviceClass::Android
        } else {
            DeviceClass::Other
        };
        let agent = if any(Previewer) {
            AgentKind::Previewer
        } else if any(Bot) {
            AgentKind::Bot
        } else {
            AgentKind::Human
        };
        (agent, device)
    }

    #[test]
    fn needles_are_lower_case_and_grouped_by_first_byte() {
        let mut seen = std::collections::HashSet::new();
        let mut previous = None;
        for (needle, _) in NEEDLES {
            assert!(!needle.is_empty() && *needle == needle.to_ascii_lowercase(), "{needle}");
            let first = needle.as_bytes()[0];
            if previous != Some(first) {
                assert!(seen.insert(first), "needles starting with {:?} are not together", first as char);
            }
            previous = Some(first);
        }
        assert!(NEEDLES.len() < 256);
    }

    #[test]
    fn in_app_browsers_are_people() {
        let snapchat = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/13.0.0.0 (like Safari/604.1)";
        let teams = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Teams/24000.0";
        assert_eq!(classify(Some(snapchat)), (AgentKind::Human, DeviceClass::Ios));
        assert_eq!(classify(Some(teams)), (AgentKind::Human, DeviceClass::Other));
        assert_eq!(
            classify(Some("SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com")).0,
            AgentKind::Previewer
        );
    }

    proptest::proptest! {
        #[test]
        fn the_scan_agrees_with_the_definition(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(NEEDLES.iter().map(|(n, _)| n.to_ascii_uppercase()).collect::<Vec<_>>()),
                    proptest::sample::select(NEEDLES.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>()),
                    "[ -~]{0,12}",
                    "\\PC{0,4}",
                ],
                0..12,
            )
        ) {
            let ua = parts.concat();
            proptest::prop_assert_eq!(classify(Some(&ua)), naive(&ua), "{:?}", ua);
        }
    }

    #[test]
    fn huge_and_unicode_agents_are_safe() {
        let huge = format!("{}{}", "é".repeat(400), "curl/1");
        assert_eq!(classify(Some(&huge)).0, AgentKind::Human, "only the first bytes are examined");
        let _ = classify(Some(&"\u{1F600}".repeat(10_000)));
    }
}
