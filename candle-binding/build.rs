//! Give the shared library a stable SONAME, so that programs linked against it
//! record `libcandle_semantic_router.so` (not a path) in their NEEDED entries.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcandle_semantic_router.so");
}
