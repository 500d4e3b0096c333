require "rack"
require "middle_management/web/chart"
require "middle_management/web/pool_section"

module MiddleManagement
  class Web
    # The page's HTML: plain strings, every value escaped, CSS inline, no
    # script and no URL of another host (the CSP refuses them anyway).
    class Page
      STYLE = <<~CSS.freeze
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 60em; }
        h1 { font-size: 1.4em; } h2 { font-size: 1.2em; border-top: 1px solid #ccc; padding-top: .8em; }
        table { border-collapse: collapse; margin: .4em 0 1em; } th, td { padding: 2px 8px; text-align: left; vertical-align: top; }
        th { background: #f3f3f3; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
        .note { color: #555; } .alerts { border: 1px dashed #bbb; padding: .3em .6em; color: #555; }
        .alerts.raised { border: 2px solid #c0392b; color: #222; } .alerts li { margin: .2em 0; }
        .legend .runnable { color: #c0392b; } .legend .workers { color: #2471a3; }
        nav a { margin-right: .8em; } nav a.current { font-weight: bold; text-decoration: none; color: #222; }
        .error { color: #a00; }
      CSS

      def initialize(data, base:, local: false)
        @data = data
        @base = base
        @local = local
      end

      def to_s
        <<~HTML
          <!DOCTYPE html>
          <html lang="en"><head><meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>Middle Management</title><style>#{STYLE}</style></head>
          <body>
          <h1>Middle Management</h1>
          #{header}
          #{alerts}
          #{@data[:pools].map { |pool| PoolSection.new(pool, span: @data[:span], base: @base, price: @data[:dyno_price]).to_s }.join("\n")}
          <p class="note">Read-only: nothing here changes the formation. The same data: <a href="#{h(@base)}/status.json?span=#{h(@data[:span])}">status.json</a>.</p>
          </body></html>
        HTML
      end

      private

      def header
        lines = ["As of #{h(@data[:generated_at])} (UTC). Store: #{h(@data[:store] || "none")}. " \
                 "Heroku's rate limit remaining: #{h(@data[:rate_limit_remaining] || "not known yet")}. " \
                 "Priced at $#{h(format("%.4f", @data[:dyno_price]))} per dyno-hour (MIDDLE_MANAGEMENT_DYNO_PRICE)."]
        lines << "Not scaling: #{h(@data[:disabled_reason])}." if @data[:disabled_reason]
        lines << "Dry run: decisions are logged, not sent to Heroku." if @data[:dry_run]
        if @local
          lines << "Served by <code>middle_management local</code> on this machine, so it is open without " \
                   "credentials; in an app it is closed until MIDDLE_MANAGEMENT_WEB_USERNAME and " \
                   "MIDDLE_MANAGEMENT_WEB_PASSWORD or MiddleManagement::Web.authorize open it."
        end
        lines.map { |line| %(<p class="note">#{line}</p>) }.join("\n")
      end

      # Until each clears (Alerts.active): the newest of each kind, per pool.
      def alerts
        raised = @data[:alerts]
        if raised.empty?
          return %(<section class="alerts" id="alerts"><strong>Alerts</strong>: none. A backlog stuck at ) +
                 %(MAX_WORKERS, a job waiting longer than MIDDLE_MANAGEMENT_ALERT_AFTER or Heroku refusing the ) +
                 %(token would show here until it clears.</section>)
        end

        items = raised.map { |alert| %(<li data-kind="#{h(alert[:kind])}">#{h(alert[:at])}: #{h(alert[:text])}</li>) }
        %(<section class="alerts raised" id="alerts"><strong>Alerts</strong><ul>#{items.join}</ul></section>)
      end

      def h(value) = Rack::Utils.escape_html(value.to_s)
    end
  end
end
