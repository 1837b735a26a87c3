//! The settings every class exposes as properties (the engine's `WebSocketPeer` and
//! `WebSocketMultiplayerPeer` properties, and the servers' own), declared once in
//! [`settings_of!`]: name, type, default, the accessors' bodies and each class's doc text. The
//! classes' fields, defaults and `#[func]` accessors are generated from it (see
//! `docs/binding.md`); a class only says where its settings live ([`Settings`], [`Hosts`]).
//! A setter returns nothing to GDScript: a refused value leaves the property unchanged, with an
//! error pushed.

use rust_websocket_core::Config;

use crate::hosting::Hosting;

/// Where a class keeps its settings, and what it does when one changed (its apply hook).
pub trait Settings {
    /// Names the class in error messages.
    const CLASS: &'static str;
    /// Reads the connection settings.
    fn read_config<R>(&self, read: impl FnOnce(&Config) -> R) -> R;
    /// Changes the connection settings; `change` says whether it took the value.
    fn change_config(&mut self, change: impl FnOnce(&mut Config) -> bool);
    /// Reads `io_thread`.
    fn read_io_thread<R>(&self, read: impl FnOnce(&bool) -> R) -> R;
    /// Changes `io_thread` (read when the class starts networking: nothing to apply).
    fn change_io_thread(&mut self, change: impl FnOnce(&mut bool) -> bool);
}

/// The two server classes: their settings for accepted clients live in a [`Hosting`].
pub trait Hosts: Settings {
    fn read_hosting<R>(&self, read: impl FnOnce(&Hosting) -> R) -> R;
    fn change_hosting(&mut self, change: impl FnOnce(&mut Hosting) -> bool);
}

/// A class's settings: (property, getter, setter) names.
#[cfg(any(test, feature = "itest"))]
pub type Names = &'static [(&'static str, &'static str, &'static str)];

/// The default of every class's `io_thread`: off, unless the environment variable
/// `RUST_WEBSOCKET_IO_THREAD` is `1` (how the test suites run in both modes, and a way to try a
/// whole game with the thread without changing it).
pub fn io_thread_default() -> bool {
    static DEFAULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| std::env::var("RUST_WEBSOCKET_IO_THREAD").is_ok_and(|v| v == "1"))
}

/// THE declaration of the settings. `settings_of!(kind, then, { args })` calls
/// `then! { args kind [ entry… ] }` with the settings of `kind` (`peer`, `server` or
/// `multiplayer`), each entry normalised to
/// `{ name: type = default; docs [...]; get [doc] getter(x) {body}; set [doc] setter(x, what, v) {body}; in store }`
/// where `store` names the trait methods reaching the value (`config`, `hosting`, `io_thread`).
/// A new setting is one entry here (and its test in `itest/`).
macro_rules! settings_of {
    ($kind:ident, $then:ident, { $($args:tt)* }) => {
        $crate::settings::settings_of! { @select $kind, $then, { $($args)* }
        config {
            supported_protocols: PackedStringArray = (PackedStringArray::new(), PackedStringArray::new());
            /// Getter of [member supported_protocols].
            fn get_supported_protocols(c) { $crate::convert::packed(&c.supported_protocols) }
            /// Setter of [member supported_protocols].
            fn set_supported_protocols(c, what, protocols) {
                $crate::convert::protocols(what, &protocols).map(|v| c.supported_protocols = v).is_some()
            }
            peer {
                /// Subprotocols offered by the client (white space at both ends trimmed, as the engine does).
            }
            server {
                /// Subprotocols accepted. The client's order of preference decides: the first protocol it
                /// offers that is listed here is selected. A client offering none of them is refused
                /// (HTTP 400); with this list empty, every client is accepted without a protocol.
            }
            multiplayer {
                /// Subprotocols the client offers, or the server accepts (see [member WebSocketServer.supported_protocols]).
            }

            handshake_headers: PackedStringArray = (PackedStringArray::new(), PackedStringArray::new());
            /// Getter of [member handshake_headers].
            fn get_handshake_headers(c) { $crate::convert::packed(&c.handshake_headers) }
            /// Setter of [member handshake_headers].
            fn set_handshake_headers(c, what, headers) {
                $crate::convert::header_lines(what, &headers).map(|v| c.handshake_headers = v).is_some()
            }
            peer {
                /// Extra raw `"Name: value"` header lines added to the client's request. Lines holding a
                /// line break or another control character are refused with an error.
            }
            server {
                /// Extra raw `"Name: value"` header lines added to the 101 response.
            }
            multiplayer {
                /// Extra raw `"Name: value"` header lines for the client's request or the server's 101.
            }

            handshake_timeout: f64 = (30.0, 3.0);
            /// Getter of [member handshake_timeout].
            fn get_handshake_timeout(c) { $crate::convert::secs_f64(c.handshake_timeout) }
            /// Setter of [member handshake_timeout].
            fn set_handshake_timeout(c, what, seconds) {
                $crate::convert::seconds(what, seconds).map(|d| c.handshake_timeout = d).is_some()
            }
            peer {
                /// Seconds allowed from [method connect_to_url] to [constant STATE_OPEN] (name lookup, TCP,
                /// TLS and the HTTP upgrade); `0` waits forever, as the engine does. Default 30. NaN,
                /// infinite and negative values are refused; values above 1e9 count as 1e9.
            }
            server {
                /// Seconds a client has to complete the TCP/TLS/HTTP handshake before it is dropped.
            }
            multiplayer {
                /// Seconds a connection has to open (TCP, TLS, HTTP upgrade) and, for a client, to receive
                /// its id. Default 3, as the engine.
            }

            inbound_buffer_size: i64 = (65535, 65535);
            /// Getter of [member inbound_buffer_size].
            fn get_inbound_buffer_size(c) { i64::try_from(c.inbound_buffer_size).unwrap_or(i64::MAX) }
            /// Setter of [member inbound_buffer_size].
            fn set_inbound_buffer_size(c, what, size) {
                $crate::convert::size(what, size, $crate::convert::MAX_PACKET).map(|v| c.inbound_buffer_size = v).is_some()
            }
            peer {
                /// Largest message accepted, in bytes, and about the most bytes of received messages
                /// queued. A bigger message closes the connection with code 1009. Read when the handshake
                /// completes. At most 2147483647 (the largest Godot packet); negative values are refused.
            }
            server {
                /// [member RustWebSocketPeer.inbound_buffer_size] of each accepted peer.
            }
            multiplayer {
                /// [member RustWebSocketPeer.inbound_buffer_size] of each connection.
            }

            outbound_buffer_size: i64 = (65535, 65535);
            /// Getter of [member outbound_buffer_size].
            fn get_outbound_buffer_size(c) { $crate::convert::byte_cap_to_godot(c.outbound_buffer_size) }
            /// Setter of [member outbound_buffer_size].
            fn set_outbound_buffer_size(c, _what, size) {
                // Any value is taken: `0` or less removes the cap.
                c.outbound_buffer_size = $crate::convert::byte_cap(size);
                true
            }
            peer {
                /// Most bytes queued for sending; `put_packet`/`send` return `ERR_OUT_OF_MEMORY` beyond it.
                /// `0` or less removes the byte cap.
            }
            server {
                /// [member RustWebSocketPeer.outbound_buffer_size] of each accepted peer.
            }
            multiplayer {
                /// [member RustWebSocketPeer.outbound_buffer_size] of each connection.
            }

            max_queued_packets: i64 = (4096, 4096);
            /// Getter of [member max_queued_packets].
            fn get_max_queued_packets(c) { i64::try_from(c.max_queued_packets).unwrap_or(i64::MAX) }
            /// Setter of [member max_queued_packets].
            fn set_max_queued_packets(c, what, count) {
                $crate::convert::size(what, count, usize::MAX).map(|v| c.max_queued_packets = v).is_some()
            }
            peer {
                /// Most messages queued in each direction. A full inbound queue stops reading from the
                /// socket (nothing is dropped); a full outbound queue makes sends return `ERR_OUT_OF_MEMORY`.
                /// Negative values are refused.
            }
            server {
                /// [member RustWebSocketPeer.max_queued_packets] of each accepted peer.
            }
            multiplayer {
                /// [member RustWebSocketPeer.max_queued_packets] of each connection.
            }

            heartbeat_interval: f64 = (0.0, 0.0);
            /// Getter of [member heartbeat_interval].
            fn get_heartbeat_interval(c) { $crate::convert::secs_f64(c.heartbeat_interval) }
            /// Setter of [member heartbeat_interval].
            fn set_heartbeat_interval(c, what, seconds) {
                $crate::convert::seconds(what, seconds).map(|d| c.heartbeat_interval = d).is_some()
            }
            peer {
                /// Seconds between pings; `0` turns them off. A ping still unanswered when the next is due
                /// closes the connection at once (close code -1), which also detects half-open links. What
                /// arrived is read before that check (see the class description).
                /// NaN, infinite and negative values are refused; values above 1e9 count as 1e9.
            }
            server {
                /// [member RustWebSocketPeer.heartbeat_interval] of each accepted peer.
            }
            multiplayer {
                /// [member RustWebSocketPeer.heartbeat_interval] of each connection (the engine's class has
                /// none). Default 0 (off).
            }

            compression_enabled: bool = (false, false);
            /// Getter of [member compression_enabled].
            fn get_compression_enabled(c) { c.compression.enabled }
            /// Setter of [member compression_enabled].
            fn set_compression_enabled(c, _what, enabled) {
                c.compression.enabled = enabled;
                true
            }
            peer {
                /// permessage-deflate (RFC 7692): a client offers it in [method connect_to_url] (a server
                /// side from [method accept_stream] accepts it when offered), and messages are compressed
                /// once agreed (see [method get_negotiated_extensions]).
                /// Off by default: the engine's [WebSocketPeer] never compresses. Compression typically
                /// shrinks JSON or text game state 3–10×, at a cost: about 300 KiB of memory per connection
                /// that compresses both ways (the compressor, ~260 KiB, is allocated at the first compressed
                /// message sent; the decompressor, ~40 KiB, at the first received) and CPU per message.
                /// Messages below [member compression_threshold] are never compressed. Read when a
                /// connection starts.
            }
            server {
                /// [member RustWebSocketPeer.compression_enabled] for each client accepted afterwards: a
                /// client that offers permessage-deflate (every browser does) gets compressed messages.
                /// Off by default. Costs up to ~300 KiB of memory per client that compresses both ways.
            }
            multiplayer {
                /// [member RustWebSocketPeer.compression_enabled] of each connection: as a server, for
                /// clients accepted afterwards that offer permessage-deflate (browsers, and our clients with
                /// it enabled; the engine's own never do); as a client, offered to the server. Off by
                /// default. Costs up to ~300 KiB of memory per connection that compresses both ways.
            }

            compression_threshold: i64 = (128, 128);
            /// Getter of [member compression_threshold].
            fn get_compression_threshold(c) { i64::try_from(c.compression.threshold).unwrap_or(i64::MAX) }
            /// Setter of [member compression_threshold].
            fn set_compression_threshold(c, what, bytes) {
                // Negative values are refused.
                $crate::convert::size(what, bytes, usize::MAX).map(|v| c.compression.threshold = v).is_some()
            }
            peer {
                /// Messages shorter than this many bytes are sent uncompressed, even when compression was
                /// agreed (default 128: below it deflate's CPU buys few bytes). Negative values are refused.
            }
            server {
                /// [member RustWebSocketPeer.compression_threshold] of each accepted client (default 128).
            }
            multiplayer {
                /// [member RustWebSocketPeer.compression_threshold] of each connection (default 128).
            }
        }
        hosting {
            max_peers: i64 = 4096;
            /// Getter of [member max_peers].
            fn get_max_peers(h) { i64::try_from(h.max_peers).unwrap_or(i64::MAX) }
            /// Setter of [member max_peers].
            fn set_max_peers(h, what, count) {
                $crate::convert::size(what, count, usize::MAX).map(|n| h.max_peers = n).is_some()
            }
            server {
                /// Most simultaneous clients (handshaking or connected); more are answered HTTP 503.
            }
            multiplayer {
                /// Server: most simultaneous clients (joining or joined); more are answered HTTP 503.
            }

            request_validator: Callable = Callable::invalid();
            /// Getter of [member request_validator].
            fn get_request_validator(h) { h.validator() }
            /// Setter of [member request_validator].
            fn set_request_validator(h, _what, validator) {
                h.set_validator(validator);
                true
            }
            server {
                /// Optional `func(id: int, peer: RustWebSocketPeer) -> Variant`, called for every valid
                /// upgrade request before it is answered. `peer` shows the request
                /// ([method RustWebSocketPeer.get_requested_url], [method RustWebSocketPeer.get_request_headers],
                /// [method RustWebSocketPeer.get_connected_host]). Return `true` to accept the client,
                /// `false` to refuse it with HTTP 403, or an HTTP status (400–599) to refuse it with that
                /// status. A refused client never emits [signal client_connected].
            }
            multiplayer {
                /// Server: optional `func(id: int, peer: RustWebSocketPeer) -> Variant`, asked about every
                /// valid upgrade request before it is answered, as [member WebSocketServer.request_validator]:
                /// `true` accepts, `false` refuses with HTTP 403, an HTTP status (400–599) refuses with it.
                /// A refused client never joins: its [SceneMultiplayer] reports `connection_failed`.
            }
        }
        io_thread {
            io_thread: bool = $crate::settings::io_thread_default();
            /// Getter of [member io_thread].
            fn get_io_thread(on) { *on }
            /// Setter of [member io_thread].
            fn set_io_thread(on, _what, enabled) {
                *on = enabled;
                true
            }
            peer {
                /// Run this client's networking on a background thread: name lookup, connect, TLS, the
                /// handshake, reads, writes, pings and the closing handshake happen there, and
                /// [method poll] only takes what arrived; what is sent is handed to the thread. The game's
                /// frame then makes no system call for networking, and heartbeats go on while a frame
                /// takes long. Messages become readable and [method get_ready_state] changes only in
                /// [method poll] (or by this object's own calls), as without the thread. Read by
                /// [method connect_to_url]; a connection from [method accept_stream] always runs in
                /// [method poll] (Godot's stream objects belong to the main thread). On a peer from a
                /// server or multiplayer peer, it reads whether that owner's thread drives the connection.
                /// Off by default (default `true` when the environment variable
                /// `RUST_WEBSOCKET_IO_THREAD` is `1`). Between two polls the connection may already have
                /// moved on: a [method send] may fail on a connection that [method get_ready_state] still
                /// shows open, and [method get_current_outbound_buffered_amount] counts a message until the
                /// thread wrote it.
            }
            server {
                /// Run this server's networking on a background thread: accepting, TLS, handshakes, reads,
                /// writes, pings and timeouts happen there, and [method poll] only hands over what arrived
                /// (same signals, same order per client) and what was sent. The game's frame then makes no
                /// system call for networking, and heartbeats and close handshakes go on while a frame takes
                /// long (a scene load). A message becomes readable when [method poll] emits its signal, as
                /// without the thread. Off by default (default `true` when the environment variable
                /// `RUST_WEBSOCKET_IO_THREAD` is `1`). Read by [method listen]. [method stop] ends the
                /// thread first, then also emits what it had found since the last [method poll].
            }
            multiplayer {
                /// Run this peer's networking (server or client) on a background thread: accepting, TLS, handshakes, reads,
                /// writes, pings and timeouts happen there, and [method poll] only hands over what arrived
                /// (same signals and packets, in the same order per peer) and what was sent. The game's frame then makes no
                /// system call for networking, and heartbeats and close handshakes go on while a frame takes
                /// long (a scene load). A message becomes readable when [method poll] emits its signal, as
                /// without the thread. Off by default (default `true` when the environment variable
                /// `RUST_WEBSOCKET_IO_THREAD` is `1`). Read by [method create_server] and [method create_client].
            }
        }
        }
    };

    // The selection: which entries, with which doc text and default, a kind of class has.
    (@select $kind:ident, $then:ident, { $($args:tt)* }
        config { $(
            $cn:ident: $cty:ident = ($cpeer:expr, $cserver:expr);
            #[doc = $cgdoc:tt] fn $cget:ident($cgx:ident) $cgbody:block
            #[doc = $csdoc:tt] fn $cset:ident($csx:ident, $cwhat:ident, $cv:ident) $csbody:block
            peer { $(#[doc = $cpd:tt])* }
            server { $(#[doc = $csd:tt])* }
            multiplayer { $(#[doc = $cmd:tt])* }
        )* }
        hosting { $(
            $hn:ident: $hty:ident = $hdef:expr;
            #[doc = $hgdoc:tt] fn $hget:ident($hgx:ident) $hgbody:block
            #[doc = $hsdoc:tt] fn $hset:ident($hsx:ident, $hwhat:ident, $hv:ident) $hsbody:block
            server { $(#[doc = $hsd:tt])* }
            multiplayer { $(#[doc = $hmd:tt])* }
        )* }
        io_thread {
            $in:ident: $ity:ident = $idef:expr;
            #[doc = $igdoc:tt] fn $iget:ident($igx:ident) $igbody:block
            #[doc = $isdoc:tt] fn $iset:ident($isx:ident, $iwhat:ident, $iv:ident) $isbody:block
            peer { $(#[doc = $ipd:tt])* }
            server { $(#[doc = $isd:tt])* }
            multiplayer { $(#[doc = $imd:tt])* }
        }
    ) => {
        $crate::settings::settings_of! { @pick $kind, $then, { $($args)* }
            peer [
                $( { $cn: $cty = $cpeer; docs [$($cpd)*];
                     get [$cgdoc] $cget($cgx) $cgbody; set [$csdoc] $cset($csx, $cwhat, $cv) $csbody; in config } )*
                { $in: $ity = $idef; docs [$($ipd)*];
                  get [$igdoc] $iget($igx) $igbody; set [$isdoc] $iset($isx, $iwhat, $iv) $isbody; in io_thread }
            ]
            server [
                $( { $cn: $cty = $cserver; docs [$($csd)*];
                     get [$cgdoc] $cget($cgx) $cgbody; set [$csdoc] $cset($csx, $cwhat, $cv) $csbody; in config } )*
                $( { $hn: $hty = $hdef; docs [$($hsd)*];
                     get [$hgdoc] $hget($hgx) $hgbody; set [$hsdoc] $hset($hsx, $hwhat, $hv) $hsbody; in hosting } )*
                { $in: $ity = $idef; docs [$($isd)*];
                  get [$igdoc] $iget($igx) $igbody; set [$isdoc] $iset($isx, $iwhat, $iv) $isbody; in io_thread }
            ]
            multiplayer [
                $( { $cn: $cty = $cserver; docs [$($cmd)*];
                     get [$cgdoc] $cget($cgx) $cgbody; set [$csdoc] $cset($csx, $cwhat, $cv) $csbody; in config } )*
                $( { $hn: $hty = $hdef; docs [$($hmd)*];
                     get [$hgdoc] $hget($hgx) $hgbody; set [$hsdoc] $hset($hsx, $hwhat, $hv) $hsbody; in hosting } )*
                { $in: $ity = $idef; docs [$($imd)*];
                  get [$igdoc] $iget($igx) $igbody; set [$isdoc] $iset($isx, $iwhat, $iv) $isbody; in io_thread }
            ]
        }
    };
    (@pick peer, $then:ident, { $($args:tt)* } peer [$($e:tt)*] server $s:tt multiplayer $m:tt) => {
        $crate::settings::$then! { $($args)* [$($e)*] }
    };
    (@pick server, $then:ident, { $($args:tt)* } peer $p:tt server [$($e:tt)*] multiplayer $m:tt) => {
        $crate::settings::$then! { $($args)* [$($e)*] }
    };
    (@pick multiplayer, $then:ident, { $($args:tt)* } peer $p:tt server $s:tt multiplayer [$($e:tt)*]) => {
        $crate::settings::$then! { $($args)* [$($e)*] }
    };
}
pub(crate) use settings_of;

/// A class's struct with a `#[var]` property for each of its settings (see [`settings_of!`]):
/// `settings::class! { kind; #[derive(GodotClass)] … pub struct Name { own fields } }`.
macro_rules! class {
    ($kind:ident; $($item:tt)*) => {
        $crate::settings::settings_of!($kind, class, { @struct { $($item)* } });
    };
    (@struct { $(#[$($meta:tt)*])* pub struct $name:ident { $($fields:tt)* } } [$(
        { $n:ident: $ty:ident = $def:expr; docs [$($doc:tt)*];
          get [$gdoc:tt] $get:ident($gx:ident) $gbody:block;
          set [$sdoc:tt] $set:ident($sx:ident, $what:ident, $v:ident) $sbody:block; in $store:ident }
    )*]) => {
        $(#[$($meta)*])*
        pub struct $name {
            $($fields)*
            $(
                $(#[doc = $doc])*
                #[var(get = $get, set = $set)]
                $n: PhantomVar<$ty>,
            )*
        }

        impl $name {
            /// Sets every setting to its default (what `init` does).
            fn apply_defaults(&mut self) {
                $( self.$set($def); )*
            }
        }

        #[cfg(any(test, feature = "itest"))]
        impl $name {
            /// The properties of this class's settings: (name, getter, setter).
            pub(crate) const SETTINGS: $crate::settings::Names =
                &[$((stringify!($n), stringify!($get), stringify!($set))),*];
        }
    };
}
pub(crate) use class;

/// The class's struct expression with its settings' fields (they hold nothing):
/// `settings::new!(kind, Self { own fields, })`.
macro_rules! new {
    ($kind:ident, $s:ident { $($f:ident $(: $v:expr)?),* $(,)? }) => {
        $crate::settings::settings_of!($kind, new, { @new $s { $($f $(: $v)?,)* } })
    };
    (@new $s:ident { $($fields:tt)* } [$( { $n:ident: $($rest:tt)* } )*]) => {
        $s { $($fields)* $($n: PhantomVar::default(),)* }
    };
}
pub(crate) use new;

/// A class's primary `#[godot_api] impl` block with the `#[func]` accessors of its settings
/// added (gdext registers a property's accessors only from that block):
/// `settings::api! { kind; #[godot_api] impl Name { … } }`.
macro_rules! api {
    ($kind:ident; $($item:tt)*) => {
        $crate::settings::settings_of!($kind, api, { @api { $($item)* } });
    };
    (@api { #[godot_api] impl $name:ident { $($body:tt)* } } [$(
        { $n:ident: $ty:ident = $def:expr; docs [$($doc:tt)*];
          get [$gdoc:tt] $get:ident($gx:ident) $gbody:block;
          set [$sdoc:tt] $set:ident($sx:ident, $what:ident, $v:ident) $sbody:block; in $store:ident }
    )*]) => {
        #[godot_api]
        impl $name {
            $($body)*

            $(
                #[doc = $gdoc]
                #[func]
                pub(crate) fn $get(&self) -> $ty {
                    $crate::settings::api!(@read self, $store, |$gx| $gbody)
                }
                #[doc = $sdoc]
                #[func]
                pub(crate) fn $set(&mut self, $v: $ty) {
                    let what = format!("{}.{}", <Self as $crate::settings::Settings>::CLASS, stringify!($n));
                    $crate::settings::api!(@change self, $store, |$sx| {
                        let $what: &str = &what;
                        $sbody
                    })
                }
            )*
        }
    };
    (@read $self:ident, config, $f:expr) => { $crate::settings::Settings::read_config($self, $f) };
    (@read $self:ident, io_thread, $f:expr) => { $crate::settings::Settings::read_io_thread($self, $f) };
    (@read $self:ident, hosting, $f:expr) => { $crate::settings::Hosts::read_hosting($self, $f) };
    (@change $self:ident, config, $f:expr) => { $crate::settings::Settings::change_config($self, $f) };
    (@change $self:ident, io_thread, $f:expr) => { $crate::settings::Settings::change_io_thread($self, $f) };
    (@change $self:ident, hosting, $f:expr) => { $crate::settings::Hosts::change_hosting($self, $f) };
}
pub(crate) use api;
