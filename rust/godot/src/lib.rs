//! GDExtension entry point of godot-rust-websocket: registers `WebSocketServer`,
//! `RustWebSocketPeer` and `RustWebSocketMultiplayerPeer`. Each class is a thin translation over
//! `rust_websocket_core`.

use godot::prelude::*;

mod client;
mod convert;
mod enums;
mod hosting;
#[cfg(feature = "itest")]
mod itest;
mod monitors;
mod multiplayer_peer;
mod peer;
mod server;
mod settings;
mod stream_bridge;
mod tls_bridge;

struct RustWebSocketExtension;

#[gdextension(entry_symbol = rust_websocket_init)]
unsafe impl ExtensionLibrary for RustWebSocketExtension {
    fn on_stage_init(stage: InitStage) {
        #[cfg(feature = "itest")]
        if stage == InitStage::Scene {
            itest::register();
        }
        let _ = stage;
    }

    fn on_stage_deinit(stage: InitStage) {
        if stage == InitStage::Scene {
            monitors::unregister();
            #[cfg(feature = "itest")]
            itest::unregister();
        }
    }
}

#[cfg(all(test, feature = "docs"))]
mod tests {
    /// Every class, method, property, constant and signal registered in the sources has a
    /// description in the editor's help (gdext's `register-docs` turns doc comments into this
    /// XML and leaves undocumented items out).
    #[test]
    fn everything_is_documented() {
        let docs: Vec<String> = godot::docs::__gather_xml_docs().collect();
        // The settings' properties and accessors are declared once, in settings.rs: their names
        // come from there, the rest from each class's source.
        use crate::{multiplayer_peer::RustWebSocketMultiplayerPeer, peer::RustWebSocketPeer, server::WebSocketServer};
        for (class, source, settings) in [
            ("RustWebSocketPeer", include_str!("peer.rs"), RustWebSocketPeer::SETTINGS),
            ("WebSocketServer", include_str!("server.rs"), WebSocketServer::SETTINGS),
            (
                "RustWebSocketMultiplayerPeer",
                include_str!("multiplayer_peer.rs"),
                RustWebSocketMultiplayerPeer::SETTINGS,
            ),
        ] {
            let xml = docs.iter().find(|x| x.contains(&format!("<class name=\"{class}\""))).expect(class);
            assert!(between(xml, "<brief_description>", "</brief_description>").trim().len() > 20, "{class}");
            let mut missing = Vec::new();
            let mut seen = 0;
            let mut items: Vec<(&str, &str)> = Vec::new();
            for (attr, tag) in [("#[func]", "method"), ("#[signal]", "signal"), ("#[constant]", "constant")] {
                items.extend(registered(source, attr).into_iter().map(|name| (tag, name)));
            }
            for (property, getter, setter) in settings {
                items.extend([("member", *property), ("method", *getter), ("method", *setter)]);
            }
            {
                for (tag, name) in items {
                    seen += 1;
                    let open = format!("<{tag} name=\"{name}\"");
                    let Some(at) = xml.find(&open) else {
                        missing.push(format!("{tag} {name}"));
                        continue;
                    };
                    let body = &xml[at + open.len()..];
                    let body = &body[..body.find(&format!("</{tag}>")).unwrap_or(body.len())];
                    let text = if tag == "method" || tag == "signal" {
                        between(body, "<description>", "</description>")
                    } else {
                        &body[body.find('>').map(|i| i + 1).unwrap_or(0)..]
                    };
                    if text.trim().is_empty() {
                        missing.push(format!("{tag} {name}"));
                    }
                }
            }
            if class == "RustWebSocketPeer" {
                for (enum_name, constant) in crate::enums::constants() {
                    seen += 1;
                    let open = format!("<constant name=\"{constant}\" value=\"");
                    let body = xml.find(&open).map(|at| &xml[at..]).unwrap_or("");
                    let body = &body[..body.find("</constant>").unwrap_or(0)];
                    if !body.contains(&format!("enum=\"{enum_name}\"")) || body.ends_with('>') {
                        missing.push(format!("constant {constant} of enum {enum_name}"));
                    }
                }
            }
            assert!(seen > 15, "{class}: only {seen} items found in the source");
            assert!(missing.is_empty(), "{class}: undocumented {missing:?}");
        }
    }

    /// Names of the items marked with `attr` in `source` (the name on the next line holding one).
    fn registered<'a>(source: &'a str, attr: &str) -> Vec<&'a str> {
        let lines: Vec<&str> = source.lines().map(str::trim).collect();
        let mut names = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with(attr) {
                continue;
            }
            let next = lines[i + 1..].iter().find(|l| !l.starts_with("#[") && !l.starts_with("//")).unwrap();
            let name = if let Some(rest) = next.split("fn ").nth(1) {
                rest.split(['(', '<']).next().unwrap()
            } else if let Some(rest) = next.strip_prefix("pub const ") {
                rest.split(':').next().unwrap()
            } else {
                next.split(':').next().unwrap()
            };
            names.push(name.trim());
        }
        names
    }

    fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
        let start = s.find(a).map(|i| i + a.len()).unwrap_or(0);
        let end = s[start..].find(b).map(|i| start + i).unwrap_or(s.len());
        &s[start..end]
    }
}
