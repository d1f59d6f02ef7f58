//! Windows builds carry the desk's icon and version information (Explorer, Task Manager, the
//! installer's shortcuts); other targets need nothing here.

fn main() {
    println!("cargo:rerun-if-changed=windows/gymgate-desk.ico");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let mut resource = winresource::WindowsResource::new();
    // Cross-built from Linux, winresource calls MinGW-w64's x86_64-w64-mingw32-windres.
    resource
        .set_icon("windows/gymgate-desk.ico")
        .set("ProductName", "gymgate desk")
        .set("FileDescription", "gymgate front-desk program")
        .set("CompanyName", "gymgate")
        .set("LegalCopyright", "gymgate");
    if let Err(error) = resource.compile() {
        // A build script reports failure by panicking; say what is missing.
        panic!(
            "could not embed the icon and version info (is MinGW-w64's windres installed?): {error}"
        );
    }
}
