// `sqlx::migrate!` embeds the migrations when the crate compiles, but
// cargo does not know it read them: without this, a migration added to the
// directory is left out of incremental builds until some Rust file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
