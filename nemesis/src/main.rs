fn main() {
    std::process::exit(nemesis::cli::main());
}
