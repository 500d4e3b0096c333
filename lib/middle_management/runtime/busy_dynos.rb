require "middle_management/worker/dyno"

module MiddleManagement
  module Runtime
    # The dynos one pool's busy jobs run on, as its decision needs them: the
    # highest position among them (Heroku stops dynos from the top, so the
    # formation must not go below it), whether any runs where positions are
    # unknown (no number in the name, or no dyno name at all), and which of
    # them drain because the work needs fewer dynos than their positions.
    class BusyDynos
      attr_reader :top, :names

      # `names`: each busy job's dyno name, nil where it is unknown.
      def initialize(pool, names)
        positions = Array(names).map { |name| (dyno = Worker::Dyno.parse(name)) ? pool.position(dyno) : :unknown }
        @positions = Array(names).zip(positions).select { |_, position| position.is_a?(Integer) }.to_h
        @top = @positions.values.max
        @unnumbered = Array(names).zip(positions).filter_map { |name, position| (name || "?") if position == :unknown }.uniq
        @names = Array(names).compact.uniq.sort
      end

      def unnumbered? = @unnumbered.any?

      # What the log says once, when positions are unknown.
      def unnumbered_note
        named = @unnumbered.reject { |name| name == "?" }
        where = named.any? ? "dyno names with no number (#{named.first(3).join(", ")})" : "a dyno with no DYNO name"
        "busy jobs run on #{where}: which dyno a scale-down stops is unknown, so no scale-down while any job is busy"
      end

      # The busy dynos numbered above what the work needs: they finish their
      # jobs and take no new one.
      def draining(needed)
        @positions.select { |_, position| position > needed }.keys.sort
      end
    end
  end
end
