require "rack"

module MiddleManagement
  class Web
    # A pool's chart as inline SVG, drawn here so the page needs no script
    # and no other host: runnable jobs and workers against time, with axes,
    # labels and a circle per point carrying its figures (data-at,
    # data-runnable, data-workers) for a test or a curious reader.
    class Chart
      WIDTH = 720
      HEIGHT = 220
      LEFT = 44
      RIGHT = 10
      TOP = 12
      BOTTOM = 28
      TICKS = 4

      def initialize(series, span:)
        @series = series
        @span = span
        @points = series[:points]
        @top = nice_top(@points.flat_map { |point| [point[:runnable], point[:workers].to_i] }.max.to_i)
      end

      def to_s
        <<~SVG
          <svg class="chart" role="img" viewBox="0 0 #{WIDTH} #{HEIGHT}" width="#{WIDTH}" height="#{HEIGHT}" aria-label="runnable jobs and workers over the last #{h(@span)}">
          #{axes}
          <polyline class="runnable" fill="none" stroke="#c0392b" stroke-width="1.5" points="#{line(:runnable)}"/>
          <polyline class="workers" fill="none" stroke="#2471a3" stroke-width="1.5" points="#{line(:workers)}"/>
          <g class="points">#{circles}</g>
          </svg>
        SVG
      end

      private

      def axes
        x0 = LEFT
        y0 = HEIGHT - BOTTOM
        lines = [%(<line x1="#{x0}" y1="#{TOP}" x2="#{x0}" y2="#{y0}" stroke="#555"/>),
                 %(<line x1="#{x0}" y1="#{y0}" x2="#{WIDTH - RIGHT}" y2="#{y0}" stroke="#555"/>)]
        (0..TICKS).each do |tick|
          value = @top * tick / TICKS
          y = y(value)
          lines << %(<line x1="#{x0}" y1="#{y}" x2="#{WIDTH - RIGHT}" y2="#{y}" stroke="#ddd"/>) if tick.positive?
          lines << %(<text x="#{x0 - 4}" y="#{y + 4}" text-anchor="end" font-size="11">#{value}</text>)
        end
        (0..TICKS).each do |tick|
          at = @series[:from] + ((@series[:to] - @series[:from]) * tick / TICKS)
          anchor = { 0 => "start", TICKS => "end" }.fetch(tick, "middle")
          lines << %(<text x="#{x(at)}" y="#{HEIGHT - 8}" text-anchor="#{anchor}" font-size="11">#{time_label(at)}</text>)
        end
        lines.join("\n")
      end

      def line(key) = @points.map { |point| "#{x(point[:at])},#{y(point[key].to_i)}" }.join(" ")

      def circles
        @points.map do |point|
          %(<circle cx="#{x(point[:at])}" cy="#{y(point[:runnable])}" r="1.5" fill="#c0392b" data-at="#{point[:at]}" ) +
            %(data-runnable="#{point[:runnable]}" data-capped="#{point[:capped]}" data-workers="#{h(point[:workers])}"/>)
        end.join
      end

      def x(at)
        span = [@series[:to] - @series[:from], 1].max
        (LEFT + ((WIDTH - LEFT - RIGHT) * (at - @series[:from]) / span.to_f)).round(1)
      end

      def y(value) = (HEIGHT - BOTTOM - ((HEIGHT - BOTTOM - TOP) * value / @top.to_f)).round(1)

      # A top that divides into TICKS whole steps, at least TICKS.
      def nice_top(max) = [((max + TICKS - 1) / TICKS) * TICKS, TICKS].max

      def time_label(ms)
        time = Time.at(ms / 1000r).utc
        @span == "week" ? time.strftime("%a %d %H:%M") : time.strftime("%H:%M")
      end

      def h(value) = Rack::Utils.escape_html(value.to_s)
    end
  end
end
