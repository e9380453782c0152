import type Docker from 'dockerode';

/**
 * Run `argv` in a throwaway container of the image, without network: its exit code and stdout.
 * `missing` is true when the program itself is not in the image. What a lab app needs from the
 * project image is asked this way before anything is built.
 */
export async function probeImage(docker: Docker, imageId: string, argv: string[]): Promise<{ exit: number; stdout: string; missing: boolean }> {
  const container = await docker.createContainer({
    Image: imageId,
    Entrypoint: [argv[0]!],
    Cmd: argv.slice(1),
    WorkingDir: '/',
    NetworkDisabled: true,
    Labels: { 'org.reprise.lab-probe': 'true' },
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    try {
      await container.start();
    } catch (err) {
      if (/executable file not found|no such file or directory/i.test((err as Error).message)) return { exit: 127, stdout: '', missing: true };
      throw err;
    }
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: false })) as Buffer;
    return { exit: StatusCode, stdout: demux(logs), missing: StatusCode === 127 || StatusCode === 126 };
  } finally {
    // A probe container left behind is harmless (labelled); its removal never hides the answer.
    await container.remove({ force: true }).catch(() => undefined);
  }
}

/** The payload of a non-TTY container log (8-byte frame headers), as text. */
function demux(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
