fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=raftkv.proto");
    tonic_prost_build::configure().bytes(".raftkv").compile_protos(&["raftkv.proto"], &["."])?;
    Ok(())
}
