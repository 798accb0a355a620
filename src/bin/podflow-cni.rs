//! `podflow-cni`: the CNI plugin binary. Prints a result or a CNI error
//! object on stdout, as the CNI spec requires.
use std::io::Read;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut stdin = Vec::new();
    let env = podflow::cni::plugin::Env::from_process();
    if env.command != "VERSION" {
        if let Err(e) = std::io::stdin().take(1 << 20).read_to_end(&mut stdin) {
            let err = podflow::cni::types::CniError::new(podflow::cni::types::code::IO_FAILURE, format!("cannot read stdin: {e}"));
            println!("{}", serde_json::to_string(&err).expect("serializes"));
            return ExitCode::from(1);
        }
    }
    match podflow::cni::plugin::run(&env, &stdin) {
        Ok(Some(out)) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            println!("{}", serde_json::to_string(&e).expect("serializes"));
            ExitCode::from(1)
        }
    }
}
