import { Args } from '@oclif/core';
import { BaseCommand } from '../../base-command.js';
import { addSecret, MAX_SECRET_BYTES, type SecretEntry } from '../../../config/project-secrets.js';

export default class SecretAdd extends BaseCommand {
  static override summary = "Keep a copy of FILE as the project's secret NAME: every run sees it read-only at /run/secrets/NAME.";
  static override description = `The copy lives in your Reprise home ($REPRISE_HOME/secrets/<project id>/NAME, 0600), never in git; at most ${MAX_SECRET_BYTES} bytes. Adding a NAME again replaces it.`;
  static override examples = ['reprise secret add API_KEY ~/keys/service.txt'];
  static override args = {
    name: Args.string({ description: 'secret name: letters, digits and "_"', required: true }),
    file: Args.string({ description: 'the file holding the secret', required: true }),
  };

  async run(): Promise<SecretEntry> {
    const { args } = await this.parse(SecretAdd);
    const project = await this.project();
    const entry = await addSecret(this.env.home, project.spec.id, args.name, args.file);
    this.say(`secret ${entry.name} kept (${entry.size} bytes); runs see it at /run/secrets/${entry.name}`);
    return entry;
  }
}
