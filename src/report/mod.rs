//! Rendering run results for people and scripts. Every function takes
//! results and writes text; nothing here decides about terminals, colour
//! or where results come from (live run or the store). The live printers
//! of `herd run` and `herd play` are [`sink::Sink`]s of the engine's events.

pub mod alerts;
pub mod chart;
pub mod collect;
pub mod deploy;
pub mod escape;
pub mod fleet;
pub mod fold;
pub mod history;
pub mod hostlist;
pub mod html;
pub mod inventory;
pub mod json;
pub mod play;
pub mod run;
pub mod runs;
pub mod sink;
pub mod sparkline;
pub mod table;
pub mod tasks;
pub mod text;
