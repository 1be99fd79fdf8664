// The dashboard panel and the sidebar view: both are webviews on one channel each (postMessage), set up
// with the same hygiene (narrow localResourceRoots, nonce'd CSP, bootstrap JSON, ready handshake), and fed
// by the run controller through ViewHub.
import * as vscode from 'vscode';
import { readFileSync } from 'node:fs';
import type { HostToWebview, RunSnapshot, WebviewToHost } from '../protocol/messages';
import type { ViewFeed } from './viewFeed';
import { receiveViewMessage } from './viewMessages';
import { firstPaintOf, localResourceRootPaths, newNonce, renderWebviewHtml, savedSnapshotOf } from './webviewHtml';

/** Which webview a page is. */
export type ViewKind = 'dashboard' | 'sidebar';

/** The sidebar's own rate limit (updates a second), under the dashboard's setting when that is higher. */
export const SIDEBAR_UPDATES_PER_SECOND = 4;

/** What a view's page embeds for its first paint. */
export interface ViewBootstrap {
  view: ViewKind;
  snapshot: RunSnapshot;
  /** False in a restricted (untrusted) workspace: the views say runs are disabled and offer to trust it. */
  trusted: boolean;
  /**
   * When the host opened the page (epoch ms): the command, createWebviewPanel returned, the HTML was set. The e2e's
   * latency split.
   */
  timing?: { commandAt: number; panelAt: number; htmlAt: number };
}

/** What views need from the host. */
export interface ViewHost {
  /** The snapshot to embed in a page's HTML (matrices false: without G and P, for a view that draws neither). */
  bootstrapSnapshot(matrices?: boolean): RunSnapshot;
  /** A button in a view was pressed. */
  onViewCommand(command: Extract<WebviewToHost, { type: 'view/command' }>['command']): void;
  /** A view asked to save a chart or its data. */
  onExport(m: Extract<WebviewToHost, { type: 'view/export' }>): void;
  /** A view asked for the run history (and the curves of the runs to compare); the answer goes to post. */
  onRuns(m: Extract<WebviewToHost, { type: 'view/runs' }>, post: (msg: HostToWebview) => void): void;
  /** Whether runs may start here (false in a restricted workspace). */
  readonly trusted: boolean;
  log(line: string): void;
}

/** Options every SelMix webview gets. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    enableCommandUris: false,
    localResourceRoots: localResourceRootPaths(extensionUri.fsPath).map((p) => vscode.Uri.file(p)),
  };
}

/** media/webview.css, read once per path (it goes into every page, so the first paint fetches nothing). */
const cssCache = new Map<string, string | null>();
function inlineCss(extensionUri: vscode.Uri): string | undefined {
  const path = vscode.Uri.joinPath(extensionUri, 'media', 'webview.css').fsPath;
  if (!cssCache.has(path)) {
    let text: string | null = null;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      text = null; // linked instead
    }
    cssCache.set(path, text !== null && !text.includes('</') ? text : null);
  }
  return cssCache.get(path) ?? undefined;
}

/**
 * The HTML of a view, with a fresh nonce. The dashboard's first paint (name, status, stage line) comes with the HTML,
 * from the host's snapshot, or from `shown` (the page's own saved snapshot after a window reload) when the host has
 * no run.
 */
export function viewHtml(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  kind: ViewKind,
  snapshot: RunSnapshot,
  trusted: boolean,
  timing?: ViewBootstrap['timing'],
  shown?: RunSnapshot,
): string {
  const uri = (...p: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...p)).toString();
  const bootstrap: ViewBootstrap = { view: kind, snapshot, trusted, ...(timing ? { timing } : {}) };
  const css = inlineCss(extensionUri);
  let firstPaint = firstPaintOf(snapshot);
  if (snapshot.status === 'idle' && shown) {
    try {
      firstPaint = firstPaintOf(shown);
    } catch {
      // a saved state this version cannot read: the host's snapshot paints first
    }
  }
  return renderWebviewHtml({
    title: kind === 'dashboard' ? 'SelMix Dashboard' : 'SelMix',
    cspSource: webview.cspSource,
    nonce: newNonce(),
    scriptUri: uri('dist', 'webview', `${kind}.js`),
    styleUris: [uri('media', 'webview.css')],
    ...(css !== undefined ? { inlineCss: css } : {}),
    codiconCssUri: uri('dist', 'webview', 'codicon.css'),
    bootstrap,
    // The dashboard's header and stage line come with the HTML: they paint before the page's 1.6 MB script (charts).
    ...(kind === 'dashboard' ? { firstPaint } : {}),
  });
}

/**
 * Posts to a webview that may be gone (the window reloads): a disposed webview throws or rejects; nothing to do then.
 */
function postSafely(webview: vscode.Webview, msg: HostToWebview): void {
  try {
    webview.postMessage(msg).then(undefined, () => undefined);
  } catch {
    // disposed
  }
}

/** Connects webviews to the ViewFeed: their messages come through the protocol door (view/ready, view/ack,
 * view/command); everything else is dropped and logged. */
export class ViewHub {
  private nextId = 0;

  constructor(
    private readonly feed: ViewFeed,
    private readonly host: ViewHost,
  ) {}

  /** Attaches a webview; returns its feed id and a disposable that detaches it. */
  attach(kind: ViewKind, webview: vscode.Webview): { id: string; disposable: vscode.Disposable } {
    const id = `${kind}-${++this.nextId}`;
    // The sidebar draws no matrix and is a summary: four updates a second at most (its step still moves every 250 ms).
    const opts = kind === 'sidebar' ? { matrices: false, maxPerSecond: SIDEBAR_UPDATES_PER_SECOND } : {};
    this.feed.addView(id, (msg: HostToWebview) => postSafely(webview, msg), opts);
    const sub = webview.onDidReceiveMessage((raw: unknown) => {
      receiveViewMessage(
        raw,
        kind,
        (m) => {
          switch (m.type) {
            case 'view/ready':
              this.feed.viewReady(id);
              break;
            case 'view/ack':
              this.feed.viewAck(id);
              break;
            case 'view/command':
              this.host.onViewCommand(m.command);
              break;
            case 'view/export':
              this.host.onExport(m);
              break;
            case 'view/runs':
              this.host.onRuns(m, (msg) => postSafely(webview, msg));
              break;
          }
        },
        (line) => this.host.log(line),
      );
    });
    return {
      id,
      disposable: new vscode.Disposable(() => {
        sub.dispose();
        this.feed.removeView(id);
      }),
    };
  }

  /** The view's page was unloaded (hidden); it says view/ready again when shown. */
  hidden(id: string): void {
    this.feed.viewHidden(id);
  }
}

/** The dashboard: one webview panel, restored after a window reload by its serializer. */
export class DashboardPanel implements vscode.Disposable {
  static readonly viewType = 'selmix.dashboard';
  private static current: DashboardPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  /** Shows the dashboard, creating it when there is none. */
  static show(extensionUri: vscode.Uri, hub: ViewHub, host: ViewHost, commandAt = Date.now()): DashboardPanel {
    if (DashboardPanel.current) {
      DashboardPanel.current.panel.reveal(undefined, true);
      return DashboardPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      DashboardPanel.viewType,
      'SelMix Dashboard',
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: true },
      webviewOptions(extensionUri),
    );
    return new DashboardPanel(panel, extensionUri, hub, host, { commandAt, panelAt: Date.now() });
  }

  /** Serializer that restores the panel after a reload (the page restores its own state with getState). */
  static serializer(extensionUri: vscode.Uri, hub: ViewHub, host: ViewHost): vscode.WebviewPanelSerializer {
    return {
      deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
        panel.webview.options = webviewOptions(extensionUri);
        DashboardPanel.current?.dispose();
        new DashboardPanel(panel, extensionUri, hub, host, undefined, savedSnapshotOf(state));
      },
    };
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    hub: ViewHub,
    host: ViewHost,
    opened?: { commandAt: number; panelAt: number },
    saved?: RunSnapshot,
  ) {
    DashboardPanel.current = this;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'selmix.svg');
    const { id, disposable } = hub.attach('dashboard', panel.webview);
    this.disposables.push(disposable);
    // A hidden panel's page is unloaded (no retainContextWhenHidden); it says view/ready again when shown.
    this.disposables.push(
      panel.onDidChangeViewState(() => {
        if (!panel.visible) hub.hidden(id);
      }),
    );
    this.disposables.push(panel.onDidDispose(() => this.dispose()));
    panel.webview.html = viewHtml(
      panel.webview,
      extensionUri,
      'dashboard',
      host.bootstrapSnapshot(),
      host.trusted,
      opened ? { ...opened, htmlAt: Date.now() } : undefined,
      saved,
    );
    // Granting trust enables runs: the page is drawn again with that fact.
    this.disposables.push(
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        panel.webview.html = viewHtml(panel.webview, extensionUri, 'dashboard', host.bootstrapSnapshot(), host.trusted);
      }),
    );
  }

  dispose(): void {
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** The sidebar's webview view (activity bar container "SelMix"). */
export class SidebarProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = 'selmix.sidebar';
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly hub: ViewHub,
    private readonly host: ViewHost,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = webviewOptions(this.extensionUri);
    const { id, disposable } = this.hub.attach('sidebar', view.webview);
    this.disposables.push(disposable);
    this.disposables.push(
      view.onDidChangeVisibility(() => {
        if (!view.visible) this.hub.hidden(id);
      }),
    );
    view.onDidDispose(() => disposable.dispose());
    const draw = (): void => {
      view.webview.html = viewHtml(
        view.webview,
        this.extensionUri,
        'sidebar',
        this.host.bootstrapSnapshot(false),
        this.host.trusted,
      );
    };
    draw();
    // Granting trust enables runs: the page is drawn again with that fact.
    this.disposables.push(vscode.workspace.onDidGrantWorkspaceTrust(draw));
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
