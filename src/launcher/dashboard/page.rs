//! The page: one HTML document with everything in it (its style, its
//! script, uPlot), built from the files in `assets/`, which are compiled
//! into startup. Live, it fetches `/api/run`; as an HTML report, it
//! carries the run's JSON inside and fetches nothing.

use crate::launcher::record::RunView;

const TEMPLATE: &str = include_str!("assets/page.html");
const PAGE_CSS: &str = include_str!("assets/dashboard.css");
const PAGE_JS: &str = include_str!("assets/dashboard.js");
const UPLOT_CSS: &str = include_str!("assets/uPlot.min.css");
const UPLOT_JS: &str = include_str!("assets/uPlot.iife.min.js");

/// The page; with `data`, the run it shows (an HTML report), else the
/// live page that asks `/api/run`.
pub(crate) fn render(data: Option<&RunView>) -> String {
    let json = data
        .map(|view| script_safe(&serde_json::to_string(view).unwrap_or_default()))
        .unwrap_or_default();
    // The data goes in last: nothing in it can be taken for a marker.
    TEMPLATE
        .replacen("/*UPLOT_CSS*/", UPLOT_CSS, 1)
        .replacen("/*PAGE_CSS*/", PAGE_CSS, 1)
        .replacen("/*UPLOT_JS*/", UPLOT_JS, 1)
        .replacen("/*PAGE_JS*/", PAGE_JS, 1)
        .replacen("/*RUN_DATA*/", &json, 1)
}

/// JSON that cannot end the `<script>` element holding it: `<`, `>` and
/// `&` become `\u003c`, `\u003e`, `\u0026`, the same JSON to a parser (a
/// config path or a reason containing `</script>` stays text).
fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::launcher::record::{RunInfo, State};

    #[test]
    fn the_live_page_carries_every_asset_and_no_data() {
        let page = render(None);
        assert!(page.contains("uPlot"), "uPlot is inlined");
        assert!(page.contains("api/run"), "the script is inlined");
        for marker in [
            "UPLOT_CSS*/",
            "PAGE_CSS*/",
            "UPLOT_JS*/",
            "PAGE_JS*/",
            "RUN_DATA*/",
        ] {
            assert!(!page.contains(marker), "{marker} was not replaced");
        }
        // Nothing is fetched from elsewhere: no external script or style.
        assert!(!page.contains("<script src") && !page.contains("<link"));
        assert!(page.contains("<script id=\"run-data\" type=\"application/json\"></script>"));
    }

    #[test]
    fn a_report_embeds_its_data_where_no_tag_can_end_it() {
        let info = RunInfo {
            config_path: "</script><script>alert(1)</script>&".into(),
            ..RunInfo::default()
        };
        let view = State::new(info).view(Instant::now());
        let page = render(Some(&view));
        let start = page.find("<script id=\"run-data\"").unwrap();
        let end = start + page[start..].find("</script>").unwrap();
        let json = &page[start..end];
        let json = &json[json.find('>').unwrap() + 1..];
        let back: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back["config_path"], "</script><script>alert(1)</script>&");
        assert_eq!(back["phase"], "starting");
    }
}
