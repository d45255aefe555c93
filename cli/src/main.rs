fn main() -> std::process::ExitCode {
    mpr::main()
}
