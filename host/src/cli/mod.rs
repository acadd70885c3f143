//! The `op` command line.

mod add;
mod check;
mod console;
mod invoke;
mod lifecycle;
mod load;
mod new;
mod pack;
mod reload;
mod serve;
pub mod table;
mod timer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// A WebAssembly runtime host for ONES-style plugins.
#[derive(Debug, Parser)]
#[command(name = "op", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a plugin project's (or package's) manifest and component
    /// and print its route table; exit 1 on any error.
    Check(CheckArgs),
    /// Run plugin projects locally.
    #[command(subcommand)]
    Invoke(InvokeCommand),
    /// Add to a plugin project: `op add ability TimerTask`.
    #[command(subcommand)]
    Add(AddCommand),
    /// Create a plugin project that builds and runs as it is.
    New(NewArgs),
    /// Build a plugin project and write one package file (manifest,
    /// component, workspace) for `op serve`.
    Pack(PackArgs),
    /// Print the JSON Schema of config/plugin.yaml (for editors), or of
    /// serve.yaml with `op schema serve`.
    Schema(SchemaArgs),
    /// Print a shell completion script, e.g. `op completions bash >
    /// ~/.local/share/bash-completion/completions/op`.
    Completions(CompletionsArgs),
    /// Run the production host: plugins installed from packages through
    /// the admin API, in front of ONES.
    Serve(ServeArgs),
}

/// `op schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file: `plugin` (config/plugin.yaml) or `serve` (serve.yaml).
    #[arg(value_enum, default_value = "plugin")]
    pub file: SchemaFile,
}

/// The files `op schema` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaFile {
    /// config/plugin.yaml.
    Plugin,
    /// op serve's serve.yaml.
    Serve,
}

/// `op completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `op serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The host configuration (see config/serve.yaml).
    #[arg(long, value_name = "FILE", env = "OP_CONFIG")]
    pub config: PathBuf,
}

/// `op pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The plugin project (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Where to write the package (default: DIR/NAME-VERSION.opkg).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `op new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The directory to create; its last component names the plugin.
    pub path: PathBuf,
    /// The op-plugin-sdk sources the backend builds against, written into
    /// its `[patch]` by their absolute path, for work on the SDK itself
    /// (default: the SDK built into this op, linked at `.op/rust-sdk`, which
    /// leaves the project free to move). Rust projects only.
    #[arg(long, value_name = "DIR", env = "OP_SDK_DIR")]
    pub sdk: Option<PathBuf>,
    /// The backend's language: `rust` (a cdylib crate) or `ts` (TypeScript,
    /// in the ONES layout).
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
}

/// The languages `op new` writes a backend in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate built for wasm32-wasip2.
    Rust,
    /// TypeScript, bundled by op's JS SDK.
    #[value(alias = "typescript")]
    Ts,
}

/// `op check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin project (holding config/plugin.yaml and backend/), or a
    /// package made by `op pack`.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Check this component instead of building backend/.
    #[arg(long, value_name = "FILE")]
    pub component: Option<PathBuf>,
}

/// `op invoke ...`.
#[derive(Debug, Subcommand)]
pub enum InvokeCommand {
    /// Build, load and serve plugin projects on 127.0.0.1.
    Run(RunArgs),
    /// Uninstall a plugin project's local installation: run its
    /// Stop, Disable and UnInstall hooks, then remove DIR/.op/.
    Clear(ClearArgs),
    /// Run one tick of a TimerTask ability of a plugin project now, as
    /// its schedule would (build, load, call; no lifecycle hooks).
    Timer(TimerArgs),
}

/// `op add`.
#[derive(Debug, Subcommand)]
pub enum AddCommand {
    /// Declare an ability in config/plugin.yaml and add its function to
    /// the backend (comments and layout are kept). op runs `TimerTask`.
    Ability(AddAbilityArgs),
}

/// The ability kinds `op add ability` adds.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AbilityKind {
    /// A function called on a schedule.
    #[value(name = "TimerTask")]
    TimerTask,
}

/// `op add ability`.
#[derive(Debug, Args)]
pub struct AddAbilityArgs {
    /// The kind of ability.
    #[arg(value_enum)]
    pub kind: AbilityKind,
    /// The plugin project (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Its `id` (default: `timer-task`, numbered when taken).
    #[arg(long)]
    pub id: Option<String>,
    /// Its `name` (default: the id).
    #[arg(long)]
    pub name: Option<String>,
    /// The backend function it calls (default: the id in camelCase).
    #[arg(long)]
    pub function: Option<String>,
    /// Run every SECONDS seconds (the default: 300).
    #[arg(long, value_name = "SECONDS", conflicts_with = "cron", value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: Option<u64>,
    /// Run at the times of a six-field cron expression, seconds first, in
    /// the server's time zone, e.g. '0 */5 * * * *'.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
}

/// `op invoke clear`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// The plugin project (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Base URL of a real ONES server (as for `op invoke run`).
    #[arg(long, value_name = "URL")]
    pub ones_url: Option<String>,
}

/// `op invoke timer`.
#[derive(Debug, Args)]
pub struct TimerArgs {
    /// The `id` of the TimerTask ability in config/plugin.yaml.
    pub id: String,
    /// The plugin project (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Base URL of a real ONES server (as for `op invoke run`).
    #[arg(long, value_name = "URL")]
    pub ones_url: Option<String>,
}

/// `op invoke run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plugin projects to serve together (default: the current directory).
    #[arg(default_value = ".")]
    pub dirs: Vec<PathBuf>,
    /// Port to listen on, on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3001, env = "OP_PORT")]
    pub port: u16,
    /// Base URL of a real ONES server (else OP_ONES_URL, else ones_url in
    /// config/local.yaml); with none, the embedded ONES simulator starts.
    #[arg(long, value_name = "URL")]
    pub ones_url: Option<String>,
    /// Do not watch backend/ and config/plugin.yaml for changes (by
    /// default each change rebuilds and swaps in the new version).
    #[arg(long)]
    pub no_watch: bool,
}

/// Runs the command line; the exit code says whether it succeeded.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // Its logging follows its configuration file.
        Command::Serve(args) => serve::run(args),
        command => {
            console::init();
            match command {
                Command::Check(args) => check::run(args),
                Command::Invoke(InvokeCommand::Run(args)) => invoke::run(args),
                Command::Invoke(InvokeCommand::Clear(args)) => invoke::clear(args),
                Command::Invoke(InvokeCommand::Timer(args)) => timer::run(args),
                Command::Add(AddCommand::Ability(args)) => add::run(args),
                Command::New(args) => new::run(args),
                Command::Pack(args) => pack::run(args),
                Command::Schema(args) => schema(args),
                Command::Completions(args) => completions(args),
                Command::Serve(args) => serve::run(args),
            }
        }
    };
    finish(result)
}

fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "op", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

fn schema(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let schema = match args.file {
        SchemaFile::Plugin => crate::manifest::json_schema(),
        SchemaFile::Serve => crate::serve::config::json_schema(),
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}

/// The async runtime: one worker per core the process may use; on a single
/// core, the current-thread scheduler (no work-stealing queues or cross-
/// thread wake-ups for nothing to steal from).
fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    Ok(builder.enable_all().build()?)
}
