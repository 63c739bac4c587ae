// `vigil hub …` subcommands. (Placeholder until the hub lands: registers nothing.)

import type { Command } from 'commander';

export function registerHubCommands(_program: Command): void {}
