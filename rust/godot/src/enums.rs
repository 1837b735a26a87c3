//! `RustWebSocketPeer.State` and `RustWebSocketPeer.WriteMode` as named enums, as the engine's
//! `WebSocketPeer` has them, so that GDScript code typed `var s: WebSocketPeer.State` works
//! after renaming the class, and `ClassDB.class_has_enum` is true.
//!
//! gdext 0.5's `#[constant]` registers constants without an enum name. Its registration layer
//! can attach constants to a named enum (`ConstantKind::Enum`, the way gdext's own integration
//! tests do), but only through doc-hidden paths: the constant-registration list of our class,
//! filled before `main` as the `#[godot_api]` macro fills it, and the class-docs registry for
//! the editor's help. That is why `godot` is pinned to an exact version in Cargo.toml.
//! The method signatures carry the enum through [`GodotShape::Enum`] (public API).

use std::borrow::Cow;

use godot::meta::error::ConvertError;
use godot::meta::shape::{EnumeratorShape, GodotShape};
use godot::meta::{FromGodot, GodotConvert, GodotImmutable, ToGodot};
use godot::obj::GodotClass;
use godot::prelude::*;
use godot::register::private::constant::{ConstantKind, ExportConstant, IntegerConstant};

use rust_websocket_core::ReadyState;

use crate::peer::RustWebSocketPeer;

/// One enum of a class: its name and (constant name, value) pairs.
struct EnumDef {
    name: &'static str,
    qualified: &'static str,
    values: &'static [EnumeratorShape],
}

const STATE: EnumDef = EnumDef {
    name: "State",
    qualified: "RustWebSocketPeer.State",
    values: &[
        EnumeratorShape::new_int("STATE_CONNECTING", 0),
        EnumeratorShape::new_int("STATE_OPEN", 1),
        EnumeratorShape::new_int("STATE_CLOSING", 2),
        EnumeratorShape::new_int("STATE_CLOSED", 3),
    ],
};

const WRITE_MODE: EnumDef = EnumDef {
    name: "WriteMode",
    qualified: "RustWebSocketPeer.WriteMode",
    values: &[EnumeratorShape::new_int("WRITE_MODE_TEXT", 0), EnumeratorShape::new_int("WRITE_MODE_BINARY", 1)],
};

/// Every enum constant as (enum, constant), for the documentation check.
#[cfg(test)]
pub(crate) fn constants() -> impl Iterator<Item = (&'static str, &'static str)> {
    [&STATE, &WRITE_MODE].into_iter().flat_map(|def| def.values.iter().map(|v| (def.name, v.name.as_ref())))
}

impl EnumDef {
    fn shape(&self) -> GodotShape {
        GodotShape::Enum {
            variant_type: VariantType::INT,
            enumerators: Cow::Borrowed(self.values),
            godot_name: Some(Cow::Borrowed(self.qualified)),
            is_bitfield: false,
        }
    }

    fn register(&self) {
        let enumerators =
            self.values.iter().map(|e| IntegerConstant::new(&e.name, e.value.unwrap_or_default())).collect();
        let kind = ConstantKind::Enum { name: self.name.into(), enumerators };
        ExportConstant::new(RustWebSocketPeer::class_id(), kind).register();
    }
}

/// Declares an `i64`-backed enum type as GDScript sees it. Any integer converts (as the
/// engine's methods take any integer); the constants name the known values.
macro_rules! godot_enum {
    ($(#[$doc:meta])* $ty:ident = $def:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $ty(pub i64);

        impl GodotConvert for $ty {
            type Via = i64;
            fn godot_shape() -> GodotShape {
                $def.shape()
            }
        }

        impl ToGodot for $ty {
            type Pass = godot::meta::conv::ByValue;
            fn to_godot(&self) -> i64 {
                self.0
            }
        }

        impl FromGodot for $ty {
            fn try_from_godot(via: i64) -> Result<Self, ConvertError> {
                Ok($ty(via))
            }
        }

        // SAFETY: a plain integer, `Copy`.
        unsafe impl GodotImmutable for $ty {}
    };
}

godot_enum! {
    /// `RustWebSocketPeer.State`: the core's [`ReadyState`], same values.
    State = STATE
}

/// The enumerators of `State` are the core's `ReadyState` values, in order.
const _: () = {
    const fn value_is(def: &EnumDef, index: usize, expected: i64) -> bool {
        matches!(def.values[index].value, Some(v) if v == expected)
    }
    assert!(value_is(&STATE, 0, ReadyState::Connecting as i64));
    assert!(value_is(&STATE, 1, ReadyState::Open as i64));
    assert!(value_is(&STATE, 2, ReadyState::Closing as i64));
    assert!(value_is(&STATE, 3, ReadyState::Closed as i64));
};

impl From<ReadyState> for State {
    fn from(state: ReadyState) -> State {
        State(state as i64)
    }
}

godot_enum! {
    /// `RustWebSocketPeer.WriteMode`.
    WriteMode = WRITE_MODE
}

impl WriteMode {
    pub const TEXT: WriteMode = WriteMode(0);
    pub const BINARY: WriteMode = WriteMode(1);
}

// Adds the enums to the constants gdext registers with the class (see the module docs).
godot::sys::shard_execute_pre_main!({
    let mut storage = RustWebSocketPeer::__registration_storage().lock().unwrap_or_else(|e| e.into_inner());
    storage.1.push(|| {
        STATE.register();
        WRITE_MODE.register();
    });
});

// The editor's help for the enum constants, in the XML gdext builds the class reference from.
#[cfg(feature = "docs")]
godot::sys::shard_add!(godot::private::__GODOT_DOCS_REGISTRY; godot::private::DocsShard::new::<RustWebSocketPeer>(
    godot::private::DocsItem::InherentImpl(godot::private::InherentImplDocs {
        methods_xml: "",
        signals_xml: "",
        constants_xml: concat!(
            r#"<constant name="STATE_CONNECTING" value="0" enum="State">The connection is being established (name lookup, TCP, TLS, HTTP upgrade).</constant>"#,
            r#"<constant name="STATE_OPEN" value="1" enum="State">The connection is open: messages can be sent and received.</constant>"#,
            r#"<constant name="STATE_CLOSING" value="2" enum="State">A close frame was sent or received; keep polling until [constant STATE_CLOSED].</constant>"#,
            r#"<constant name="STATE_CLOSED" value="3" enum="State">Closed, or never connected. The initial state.</constant>"#,
            r#"<constant name="WRITE_MODE_TEXT" value="0" enum="WriteMode">Messages are sent as text frames (UTF-8).</constant>"#,
            r#"<constant name="WRITE_MODE_BINARY" value="1" enum="WriteMode">Messages are sent as binary frames.</constant>"#,
        ),
    })
));
