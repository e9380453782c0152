import { useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data?: T;
  error?: string;
}

/**
 * Load (and again every `everyMs` while `keepPolling` says so); a changed `key` starts afresh, a
 * changed `refresh` loads again keeping what is shown (so forms under it keep what was typed).
 */
export function usePolled<T>(load: () => Promise<T>, key: string, everyMs: number, keepPolling: (data: T) => boolean = () => true, refresh = 0): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({});
  const shownKey = useRef(key);
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    const tick = () =>
      load().then(
        (data) => {
          if (stopped) return;
          setState({ data });
          if (keepPolling(data)) timer = window.setTimeout(tick, everyMs);
        },
        (err: Error) => {
          if (stopped) return;
          setState((s) => ({ ...s, error: err.message }));
          timer = window.setTimeout(tick, everyMs);
        },
      );
    if (shownKey.current !== key) setState({});
    shownKey.current = key;
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [key, refresh]);
  return state;
}

/** The hash route: path segments and query, kept in step with the address bar (each view is a bookmarkable URL). */
export function useRoute(): { parts: string[]; query: URLSearchParams } {
  const read = () => {
    const [path, search] = (location.hash.replace(/^#/, '') || '/').split('?');
    return { parts: (path ?? '/').split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search ?? '') };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
