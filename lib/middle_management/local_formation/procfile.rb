require "middle_management/heroku_names"

module MiddleManagement
  module LocalFormation
    # A Procfile read the way foreman and Heroku read it: one `type: command`
    # per line; anything else (comments, blank lines) is ignored. Commands
    # run from the Procfile's directory, as they would from the app root.
    class Procfile
      class Error < ArgumentError; end

      # foreman's pattern: a process type (Heroku's characters), a colon, a command.
      ENTRY = /\A(#{HerokuNames::PROCESS_TYPE_CHAR}+):\s*(.+)\z/

      attr_reader :path, :dir

      def self.load(path)
        path = File.expand_path(path)
        raise Error, "no Procfile at #{path}" unless File.file?(path)

        parse(File.read(path), path: path)
      end

      def self.parse(text, path: nil, dir: nil)
        entries = {}
        text.each_line.with_index(1) do |line, number|
          match = ENTRY.match(line.strip)
          next unless match

          type, command = match.captures
          raise Error, "#{path || 'Procfile'}:#{number}: process type #{type} is defined twice" if entries.key?(type)

          entries[type] = command
        end
        new(entries, path: path, dir: dir)
      end

      def initialize(entries, path: nil, dir: nil)
        @entries = entries.to_h { |type, command| [type.to_s, command.to_s] }.freeze
        @path = path
        @dir = dir || (path ? File.dirname(path) : Dir.pwd)
      end

      # In file order, which is also the order dynos start in.
      def types = @entries.keys

      def include?(type) = @entries.key?(type.to_s)

      def command(type)
        @entries.fetch(type.to_s) { raise Error, "no process type #{type} in #{@path || 'the Procfile'}" }
      end

      def to_h = @entries.dup

      def empty? = @entries.empty?
    end
  end
end
