import { diskNote } from './server-evacuate.workflow';

describe('diskNote', () => {
  it.each([
    [{ storage: 'shared' as const }, 'img-1', 'Evacuated from h1: booted from its disk on shared storage'],
    [{ storage: 'local' as const }, 'img-1', 'Evacuated from h1: local disk lost, rebuilt from image img-1'],
    [{}, 'img-2', 'Evacuated from h1: local disk lost, rebuilt from image img-2'],
    [{}, null, 'Evacuated from h1: local disk lost, rebuilt without an image'],
  ])('%j with image %s -> %s', (spec, image, note) => {
    expect(diskNote('h1', spec, image)).toBe(note);
  });
});
