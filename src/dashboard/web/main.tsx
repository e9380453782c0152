import { render } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { currentSession, type Session } from './api.js';
import { BackendsPage } from './backends.js';
import { FeedView } from './feed.js';
import { useRoute } from './hooks.js';
import { LabPage } from './lab.js';
import { RunPage } from './run.js';
import { SweepPage } from './sweep.js';
import { TeamPage } from './team.js';

function App() {
  const { parts, query } = useRoute();
  const [session, setSession] = useState<Session>();
  useEffect(() => void currentSession().then(setSession, () => undefined), []);
  const [kind, id] = parts;
  let view;
  if (kind === 'runs' && id) view = <RunPage runId={id} session={session} />;
  else if (kind === 'sweeps' && id) view = <SweepPage sweepId={id} session={session} />;
  else if (kind === 'labs' && id) view = <LabPage labId={id} session={session} />;
  else if (kind === 'backends') view = <BackendsPage />;
  else if (kind === 'team') view = <TeamPage query={query} />;
  else view = <FeedView query={query} />;
  // A route change moves focus to the new view, as a page load would put it at the top; the first
  // render leaves it alone so that Tab from a fresh page reaches the skip link first. A layout effect
  // moves it before the view is painted, so it never takes focus from something the user reached.
  const routed = useRef(false);
  useLayoutEffect(() => {
    if (routed.current) document.getElementById('main')?.focus();
    routed.current = true;
  }, [kind, id]);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header>
        <nav aria-label="Main">
          <a href="#/">Reprise · {document.title.replace(/^Reprise: /, '')}</a>
          <a href="#/backends" aria-current={kind === 'backends' ? 'page' : undefined}>Backends</a>
          <a href="#/team" aria-current={kind === 'team' ? 'page' : undefined}>Team</a>
        </nav>
        <p class="session" aria-live="polite">
          {session?.loggedIn ? 'Logged in: actions enabled' : 'Read-only: open the login URL `reprise dashboard` printed to act'}
        </p>
      </header>
      <main id="main" tabIndex={-1}>
        {view}
      </main>
    </>
  );
}

const root = document.getElementById('app')!;
root.replaceChildren(); // the page's "Loading…" line is not Preact's to diff away
render(<App />, root);
