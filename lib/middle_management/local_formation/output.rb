module MiddleManagement
  module LocalFormation
    # Interleaves the output of many processes on one IO the way foreman does
    # (`12:00:01 worker.1 | line`), so `middle_management local` reads like
    # `heroku local`. Each line is written whole under a lock, so lines from
    # different processes never mix; a nil IO discards everything.
    class Output
      SYSTEM = "system"

      def initialize(io, names: [])
        @io = io
        @lock = Mutex.new
        @width = ([SYSTEM] + names).map(&:size).max
      end

      def enabled? = !@io.nil?

      def line(name, text)
        return unless @io

        stamped = "#{Time.now.strftime('%H:%M:%S')} #{name.ljust(@width)} | #{text.chomp}\n"
        @lock.synchronize do
          @io.write(stamped)
          @io.flush
        end
      rescue IOError, SystemCallError
        nil # the terminal went away; the processes must still be managed
      end

      def system(text) = line(SYSTEM, text)

      # Copies a process's combined stdout/stderr, line by line, until every
      # process holding the pipe has closed it.
      def pump(name, reader)
        thread = Thread.new do
          reader.each_line { |text| line(name, text) }
        rescue IOError
          nil
        ensure
          reader.close
        end
        thread.report_on_exception = false
        thread
      end
    end
  end
end
