//! `sqlx::migrate!` embeds `../migrations` at compile time, but on stable Rust
//! the macro cannot tell cargo to watch that folder: a new migration file would
//! not rebuild the crate, and the binary would quietly lack it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
