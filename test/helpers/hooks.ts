import { deleteAllTestNetns } from './netns.ts';
import { stopAllTestProcesses } from './processes.ts';

/** Mocha root hooks: clean up processes and namespaces after every file, pass or fail. */
export const mochaHooks = {
  async afterAll(this: unknown) {
    await stopAllTestProcesses();
    deleteAllTestNetns();
  },
};
