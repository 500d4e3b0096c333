require "rack"
require "middle_management/alerts"
require "middle_management/measures"
require "middle_management/web/chart"
require "middle_management/simulation/grid"

module MiddleManagement
  class Web
    # One pool on the page: the formation now and what the work needs, the
    # chart for the span, the cost, the decisions with their reasons and
    # Heroku's last errors.
    class PoolSection
      def initialize(pool, span:, base:, price:)
        @pool = pool
        @span = span
        @base = base
        @price = price
      end

      def to_s
        <<~HTML
          <section class="pool" id="pool-#{h(@pool[:name])}" data-pool="#{h(@pool[:name])}">
          <h2>Pool #{h(@pool[:name])}</h2>
          #{now}
          <nav>#{SPANS.keys.map { |span| span_link(span) }.join}</nav>
          <p class="legend"><span class="runnable">&#9632; runnable jobs</span> <span class="workers">&#9632; workers</span>
          (#{@pool[:chart][:points].size} points from #{@pool[:chart][:samples]} samples#{@pool[:chart][:downsampled] ? ", downsampled" : ""})</p>
          #{Chart.new(@pool[:chart], span: @span)}
          #{cost}
          #{tuning}
          #{decisions}
          #{errors}
          </section>
        HTML
      end

      private

      def now
        now = @pool[:now]
        runnable = now[:runnable].nil? ? "not counted yet" : "#{now[:capped] ? "≥ " : ""}#{now[:runnable]}"
        rows = [["Formation now (Heroku confirmed)", now[:known]], ["Desired", now[:desired]],
                ["What the work needs", now[:needed]], ["Runnable jobs", runnable], ["Running jobs", now[:running]],
                ["Busy dynos", list(now[:busy_dynos])], ["Draining dynos", list(now[:draining])],
                ["Min / max workers", "#{@pool[:min_workers]} / #{@pool[:max_workers]}"],
                ["Jobs per worker", per_worker(now[:jobs_per_worker])],
                ["Measured", Measures::Measured.new(**@pool[:measured]).to_s],
                ["Calls to Heroku (errors)", "#{now[:calls]} (#{now[:errors]})"], ["Last result", now[:last_result]]]
        table(%w[What Now], rows.map { |label, value| [h(label), h(value.nil? ? "—" : value)] }, css: "now")
      end

      # What the last decision sized by, and whether it was learned.
      def per_worker(used)
        setting = @pool[:jobs_per_worker]
        if @pool[:rules] then "none: sized by MIDDLE_MANAGEMENT_RULES"
        elsif setting != :auto then setting
        elsif used then "#{used} (auto: a dyno's boot ÷ a job's duration × the jobs it runs at once)"
        else "auto (no decision yet)"
        end
      end

      def span_link(span)
        current = span == @span ? ' class="current"' : ""
        %(<a#{current} href="#{h(@base)}/?span=#{span}#pool-#{h(@pool[:name])}">last #{span}</a>)
      end

      def cost
        cost = @pool[:cost]
        rows = { "Today (UTC)" => cost[:today], "Last 7 days" => cost[:week] }.map do |label, window|
          [h(label), h(Alerts.span(window[:hours] * 3_600_000)), h(format("%.3f", window[:dyno_hours])), h(dollars(window[:cost])),
           h(window[:max_workers_dyno_hours] ? format("%.3f", window[:max_workers_dyno_hours]) : "—"),
           h(window[:max_workers_cost] ? dollars(window[:max_workers_cost]) : "—")]
        end
        table(["", "History covers", "Dyno-hours", "Cost", "Dyno-hours at MAX_WORKERS always on", "Its cost"],
              rows, css: "cost")
      end

      # What the last day says to set (Tuning), beside the app's settings and the peers.
      def tuning
        tuning = @pool[:tuning]
        case tuning[:state]
        when "computing"
          %(<p class="note tuning">Tuning: the last day is being replayed with other settings; reload in a minute.</p>)
        when "none" then %(<p class="note tuning">Tuning (#{h(tuning[:at])}): #{h(tuning[:reason])}</p>)
        else tuned(tuning)
        end
      end

      def tuned(tuning)
        rows = [["Your settings", tuning[:yours]], ["Recommended", tuning[:recommended]],
                *tuning[:peers].map { |peer| ["Peer: #{peer[:name]}", peer] }].filter_map do |label, point|
          point && [h(label), h(Simulation::Grid.dollars(point[:cost])), h(format("%.1f s", point[:wait_p95])), h(point[:changes]),
                    h(point[:name])]
        end
        <<~HTML
          <h3>Tuned on the last day</h3>
          <p class="note tuning">#{h(tuning[:summary])} (replayed #{h(tuning[:at])}, again within the hour).</p>
          #{table(["", "Cost", "p95 wait", "Changes", "Settings"], rows, css: "tuning")}
          <pre class="advice">#{h(tuning[:advice])}</pre>
        HTML
      end

      def decisions
        rows = @pool[:decisions].map do |change|
          [h(change[:at]), h("#{change[:from].nil? ? "unknown" : change[:from]} → #{change[:to]}"), h(change[:reason]),
           h(list(change[:busy])), h(list(change[:draining])), h(change[:by])]
        end
        return %(<p class="note decisions">No decision changed the formation in the last 7 days.</p>) if rows.empty?

        "<h3>Decisions</h3>\n" + table(%w[When Change Reason Busy Draining Decided\ by], rows, css: "decisions")
      end

      def errors
        return %(<p class="note errors">No error from Heroku in the last 7 days.</p>) if @pool[:errors].empty?

        rows = @pool[:errors].map { |error| [h(error[:at]), h(error[:status]), %(<span class="error">#{h(error[:message])}</span>)] }
        "<h3>Heroku's last errors</h3>\n" + table(%w[When Status Message], rows, css: "errors")
      end

      # Cells arrive escaped.
      def table(headings, rows, css:)
        head = headings.map { |heading| "<th>#{h(heading)}</th>" }.join
        body = rows.map { |cells| "<tr>#{cells.map { |cell| "<td>#{cell}</td>" }.join}</tr>" }.join("\n")
        %(<table class="#{css}"><thead><tr>#{head}</tr></thead><tbody>\n#{body}\n</tbody></table>)
      end

      def list(values) = Array(values).empty? ? "none" : Array(values).join(", ")

      # Cents, and tenths of a cent below a dollar: a few minutes of one dyno still shows.
      def dollars(amount) = amount < 1 ? format("$%.3f", amount) : format("$%.2f", amount)

      def h(value) = Rack::Utils.escape_html(value.to_s)
    end
  end
end
