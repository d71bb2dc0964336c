mod distribution;
mod helpers;
